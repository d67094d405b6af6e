"""The draft/target pair as one object: build a fresh one for a profile, save it, load it back.

A saved pair is two ordinary Hugging Face folders, `draft/` (Llava + the base tokenizer) and
`target/` (VideoLlava + the target tokenizer), loaded by the same code as the real checkpoints.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from xsd.models.config import ModelsConfig


@dataclass
class ModelPair:
    draft: object            # LlavaForConditionalGeneration (EventGPT)
    target: object           # VideoLlavaForConditionalGeneration
    draft_tokenizer: object  # the shared base vocabulary
    target_tokenizer: object  # base + <image>, <video>, <pad>

    def inputs(self, side: str, frames, question: str) -> dict:
        """Model kwargs of one sample for `side` ("draft": event frames, "target": video frames)."""
        from xsd.models.eventgpt import draft_inputs
        from xsd.models.videollava import target_inputs

        if side == "draft":
            return draft_inputs(self.draft, self.draft_tokenizer, frames, question)
        if side == "target":
            return target_inputs(self.target, self.target_tokenizer, frames, question)
        raise ValueError(f"side must be 'draft' or 'target', not {side!r}")

    def sample_inputs(self, side: str, dataset, sample) -> dict:
        """Model kwargs of a dataset sample (a `xsd.world.dataset.WorldDataset` and one of its samples)."""
        frames = dataset.event_frames(sample) if side == "draft" else dataset.video_frames(sample)
        return self.inputs(side, frames, sample.question)

    def model(self, side: str):
        return {"draft": self.draft, "target": self.target}[side]

    def tokenizer(self, side: str):
        return {"draft": self.draft_tokenizer, "target": self.target_tokenizer}[side]

    def vocabulary(self):
        from xsd.models.tokenizer import SharedVocabulary

        return SharedVocabulary(self.draft_tokenizer, self.target_tokenizer)


PROMPT_REPEATS = 200  # enough occurrences that BPE merges the prompt's words into whole tokens


def tokenizer_texts(texts: Iterable[str]):
    """The corpus plus both prompt templates: Vicuna's tokenizer knows the system prompt's words, so
    the mini one must too, or the draft's prompt would cost ~4× more tokens than in the study."""
    from xsd.models.eventgpt import draft_prompt
    from xsd.models.videollava import target_prompt

    yield from texts
    for _ in range(PROMPT_REPEATS):
        yield draft_prompt("").replace("<event>", "")
        yield target_prompt("").replace("<video>", "")


def new_pair(models: ModelsConfig, texts: Iterable[str], seed: int) -> ModelPair:
    """Untrained models of the profile's sizes and the tokenizer trained on `texts` (+ the prompts)."""
    from xsd.models.eventgpt import build_draft
    from xsd.models.tokenizer import target_tokenizer, target_vocab_size, train_tokenizer
    from xsd.models.videollava import build_target

    base = train_tokenizer(tokenizer_texts(texts), models.vocab_size)
    target_tok = target_tokenizer(base)
    return ModelPair(
        draft=build_draft(models, len(base), seed, placeholder_id=base.unk_token_id),
        target=build_target(models, target_vocab_size(target_tok), len(base), seed + 1),
        draft_tokenizer=base,
        target_tokenizer=target_tok,
    )


def save_pair(pair: ModelPair, directory: Path) -> Path:
    directory = Path(directory)
    for name, model, tokenizer in (("draft", pair.draft, pair.draft_tokenizer),
                                   ("target", pair.target, pair.target_tokenizer)):
        model.save_pretrained(directory / name)
        tokenizer.save_pretrained(directory / name)
    return directory


def load_saved_pair(directory: Path, load_in_4bit: bool = False, compute_dtype: str = "float32") -> ModelPair:
    from xsd.models.loading import load_pair

    directory = Path(directory)
    return load_pair(directory / "draft", directory / "target", load_in_4bit, compute_dtype)
