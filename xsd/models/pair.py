"""The draft/target pair as one object: build a fresh one for a profile, and save it.

A saved pair is two ordinary Hugging Face folders, `draft/` (Llava + the base tokenizer) and
`target/` (VideoLlava + the target tokenizer), loaded by the same code as the real checkpoints
(`xsd.models.loading.load_saved_pair`).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from xsd.models.config import ModelsConfig


@dataclass
class ModelPair:
    draft: object            # LlavaForConditionalGeneration (EventGPT)
    target: object           # VideoLlavaForConditionalGeneration
    draft_tokenizer: object  # the shared base vocabulary
    target_tokenizer: object  # base + <image>, <video>, <pad>
    # per side, prompts are padded with text tokens to this length (shapes: the study's logged lengths)
    prompt_tokens: dict = field(default_factory=dict)

    def inputs(self, side: str, frames, question: str) -> dict:
        """Model kwargs of one sample for `side` ("draft": event frames, "target": video frames)."""
        from xsd.models.eventgpt import draft_inputs
        from xsd.models.videollava import target_inputs

        if side == "draft":
            inputs = draft_inputs(self.draft, self.draft_tokenizer, frames, question)
        elif side == "target":
            inputs = target_inputs(self.target, self.target_tokenizer, frames, question)
        else:
            raise ValueError(f"side must be 'draft' or 'target', not {side!r}")
        return self.padded(side, inputs, question)

    def padded(self, side: str, inputs: dict, question: str) -> dict:
        """`inputs` with the prompt padded to `prompt_tokens[side]` tokens (unchanged when 0)."""
        length = self.prompt_tokens.get(side, 0)
        if not length:
            return inputs
        ids = inputs["input_ids"]
        filler = self.tokenizer(side)(question, add_special_tokens=False)["input_ids"]
        padded = torch.tensor([padded_ids(ids[0].tolist(), length, filler)], device=ids.device)
        return {**inputs, "input_ids": padded, "attention_mask": torch.ones_like(padded)}

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


def padded_ids(ids: list[int], length: int, filler: list[int]) -> list[int]:
    """`ids` with `filler` repeated after the first (BOS) token up to `length` tokens in all; the
    visual placeholders keep their count, so only the prompt's text grows."""
    missing = length - len(ids)
    if missing < 0:
        raise ValueError(f"the prompt has {len(ids)} tokens, more than the {length} asked for")
    if missing and not filler:
        raise ValueError("cannot pad a prompt with an empty filler")
    return ids[:1] + (filler * (missing // len(filler) + 1))[:missing] + ids[1:]


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
