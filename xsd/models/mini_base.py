"""The mini pair's shared base LLM: one causal LM trained on scene text before either side's stage C,
and the weights both sides' LLMs start stage C from (the stand-in for the study's Vicuna-7B, from
which EventGPT and Video-LLaVA both grew; with `base_steps: 0` each LLM starts from random weights).

The text (xsd.world.texts): per fresh scene from the world's generator and per answer style, one
conversation in that style's side's prompt template, with a plain description of what that
sensor sees where the visual placeholder goes, then every question of the scene answered from
that view in that style. As in stage C, the turns are packed behind the shared prefix, each
seeing only the prefix and itself (`train.packed_batch`), one conversation per forward pass
(`train.rows_loss`). The loss is on every text token (a causal LM: descriptions, questions and
answers), except each turn's first, which nothing of its own turn precedes.

The model is the target's LLM (the base vocabulary + <image>, <video>, <pad>, padded to a
multiple of 64; only the base tokens occur in the text); the draft, whose vocabulary is the base
one, takes the first rows of its embedding and LM head (`load_base_llm`).

It trains once per checkpoint, in base_llm/, under a file lock (as every stage): the target's
process trains it first, then the target's stage C, while the draft's process trains both sides'
towers and features and then the draft's stage C, which takes the base LLM by then finished or
waits for it (a side that finds it interrupted resumes it). The two processes then end at about
the same time: the base LLM and the target's stage C take about as long as both towers and the
draft's stage C.
Resumable as every stage (`run_steps`; done.json when finished); its report goes into
training.json.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from xsd.config import Profile
from xsd.models import train
from xsd.models.mini_sides import SPECS, run_once

STAGE = "base"          # the stage's name in `stop_after`
FOLDER = "base_llm"
TRAINED_BY = "target"   # the side whose process trains it first


def enabled(profile: Profile) -> bool:
    return bool(profile.models.train.base_steps)


def prompts() -> dict[str, tuple]:
    """Per answer style: (its side's prompt function, that prompt's visual placeholder)."""
    from xsd.models import eventgpt, videollava

    return {SPECS["draft"].view: (eventgpt.draft_prompt, eventgpt.EVENT_PLACEHOLDER),
            SPECS["target"].view: (videollava.target_prompt, videollava.VIDEO_PLACEHOLDER)}


# -- the model ------------------------------------------------------------------------------------

def new_base_llm(profile: Profile, directory: Path):
    """A randomly initialised base LLM of the target's vocabulary, and the base tokenizer."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    from xsd.models.eventgpt import llama_config
    from xsd.models.tokenizer import target_tokenizer, target_vocab_size

    base = AutoTokenizer.from_pretrained(str(directory / "tokenizer"), local_files_only=True)
    target = target_tokenizer(base)
    config = llama_config(profile.models.llm, target_vocab_size(target), pad_token_id=target.pad_token_id)
    torch.manual_seed(profile.seed + 2)  # the draft is built from the seed, the target from seed + 1
    return LlamaForCausalLM(config), base


def is_trained(directory: Path) -> bool:
    """The checkpoint folder holds a finished base LLM."""
    return (Path(directory) / FOLDER / "done.json").is_file()


def base_weights(directory: Path) -> dict[str, torch.Tensor]:
    """The finished base LLM's weights (a LlamaForCausalLM state dict)."""
    folder = Path(directory) / FOLDER
    if not is_trained(directory):
        raise FileNotFoundError(f"{folder}: the base LLM is not trained yet")
    return torch.load(folder / "state.pt", map_location="cpu", weights_only=True)["model"]


def load_base_llm(model, state: dict[str, torch.Tensor]) -> None:
    """A side's LLM (embeddings, layers, norm, LM head) from the base LLM's weights; a smaller
    vocabulary (the draft's) takes the first rows of the embedding and the LM head."""
    own = model.state_dict()
    mapped = {}
    for name, value in state.items():
        mine = name if name.startswith("lm_head.") else "model.language_model." + name.removeprefix("model.")
        if mine not in own:
            raise ValueError(f"the base LLM's {name} has no counterpart {mine} in {type(model).__name__}")
        rows = own[mine].shape[0]
        mapped[mine] = value[:rows] if value.shape[1:] == own[mine].shape[1:] and value.shape[0] > rows else value
    llm = {n for n in own if n.startswith(("model.language_model.", "lm_head."))}
    if llm - set(mapped):
        raise ValueError(f"the base LLM lacks {sorted(llm - set(mapped))[:5]}")
    model.load_state_dict(mapped, strict=False)


# -- the text -------------------------------------------------------------------------------------

def description_prefix(tokenizer, style: str, question: str, description: str) -> list[int]:
    """The style's prompt up to its visual placeholder, with the description in the placeholder's place."""
    prompt, placeholder = prompts()[style]
    before = prompt(question).split(placeholder)[0]
    return tokenizer(before)["input_ids"] + tokenizer(description, add_special_tokens=False)["input_ids"]


def asked_ids(tokenizer, style: str, question: str) -> list[int]:
    """The style's prompt after its visual placeholder: the question and the answer's cue."""
    prompt, placeholder = prompts()[style]
    return tokenizer(prompt(question).split(placeholder)[1], add_special_tokens=False)["input_ids"]


def conversation_row(tokenizer, style: str, description: str, turns: list[tuple[str, str]]) -> dict:
    """One packed row (ids, labels, positions, segments): the style's prompt up to its placeholder
    and the description (the shared prefix), then per turn the prompt's remainder and the answer."""
    prefix = description_prefix(tokenizer, style, turns[0][0], description)
    row = {"ids": list(prefix), "labels": list(prefix), "positions": list(range(len(prefix))),
           "segments": [0] * len(prefix)}
    for turn, (question, answer) in enumerate(turns, start=1):
        asked = asked_ids(tokenizer, style, question)
        said = train.answer_ids(tokenizer, answer)
        start = len(prefix)  # every turn's positions continue the prefix's
        row["ids"] += asked + said
        row["labels"] += [train.IGNORE] + asked[1:] + said
        row["positions"] += list(range(start, start + len(asked) + len(said)))
        row["segments"] += [turn] * (len(asked) + len(said))
    return row


def conversations_of_step(profile: Profile, step: int) -> list[tuple[str, str, list]]:
    """Step's batch: `base_batch` (style, description, turns) of distinct (scene, style) pairs."""
    from xsd.world.qa import STYLES
    from xsd.world.texts import text_conversations

    cfg = profile.models.train
    picks = train.sample_batch(len(STYLES) * cfg.base_scenes, cfg.base_batch, profile.seed, step)
    out = []
    for pick in picks:
        scene, style = divmod(pick, len(STYLES))
        texts = text_conversations(profile.world, profile.seed, scene, cfg.base_lookups, cfg.base_absences)
        text = texts[STYLES[style]]
        out.append((STYLES[style], text["description"], text["turns"]))
    return out


# -- the stage ------------------------------------------------------------------------------------

def train_base_llm(profile: Profile, directory: Path, log, stop_after: tuple[str, int] | None = None):
    """The base LLM's report once it is trained (training it, resuming it or waiting for it), or
    None when `stop_after` ended it early."""
    return run_once(Path(directory) / FOLDER, STAGE,
                    lambda folder, stop: _train(profile, Path(directory), folder, log, stop), stop_after)


def _train(profile: Profile, directory: Path, folder: Path, log, stop: int | None) -> dict | None:
    cfg = profile.models.train
    model, tokenizer = new_base_llm(profile, directory)
    log(f"base LLM: {cfg.base_steps} steps of {cfg.base_batch} conversations from {cfg.base_scenes} text scenes")
    tokens = []

    def loss_of_step(step: int) -> torch.Tensor:
        rows = [conversation_row(tokenizer, *c) for c in conversations_of_step(profile, step)]
        tokens.append(sum(sum(label != train.IGNORE for label in row["labels"]) for row in rows))
        return train.rows_loss(model, tokenizer, rows)

    settings = train.LoopSettings(steps=cfg.base_steps, lr=cfg.base_lr, seed=profile.seed,
                                  log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every,
                                  warmup=max(1, cfg.base_steps // 20), weight_decay=0.01, precision=cfg.precision)
    started = time.perf_counter()
    losses = train.run_steps(model, loss_of_step, settings, folder, log=log, stop_after=stop)
    if len(losses) < cfg.base_steps:
        return None
    per_step = (time.perf_counter() - started) / max(1, len(tokens))
    return {"steps": cfg.base_steps, "scenes": cfg.base_scenes,
            "conversations_seen": cfg.base_steps * cfg.base_batch,
            "final_loss": float(np.mean(losses[-cfg.log_every:])),
            "tokens_per_step": float(np.mean(tokens)) if tokens else None,
            "seconds_per_step": per_step if tokens else None}
