"""Training the mini/smoke pair from the world, the way the real models were built (stage A in
xsd.models.mini_tower, stages B and C in xsd.models.mini_tuning; this module runs them).

Per side (draft = EventGPT on event frames, target = Video-LLaVA on RGB video frames):

  A. `tower`: the CLIP tower learns the world's dense scene attributes of its own modality (a
     stand-in for CLIP / LanguageBind pretraining) from the train split's clips plus
     `pretrain_scenes` fresh scenes rendered in memory by the world's own generator
     (`xsd.world.pretraining`: seeds disjoint from every world's train and test scenes; the
     world's data, questions and splits are untouched). The 240 train scenes alone are
     memorised. Draft samples are single event frames; target samples are a clip's first and
     last video frame, with per-clip motion heads besides the per-frame ones;
  B. `features`: the frozen tower encodes every train clip once (the layer its VLM reads), and
     the first `tune_scenes` pretraining scenes with their questions answered from the side's
     own view (`qa.view_questions`);
  (align): with `align_steps`, the projector alone under the frozen base LLM (LLaVA's stage 1);
  C. `tune`: projector + LLM learn from the cached features, in the side's own answer style, from
     every question of a clip packed behind its visual tokens, each turn seeing only those and
     itself (`train.conversation_batch`), loss on answer tokens only.

With `base_steps`, both LLMs start stage C from one shared base LLM (xsd.models.mini_base: a
causal LM on scene text in both answer styles, trained once per checkpoint, by the target's
process before anything else); without, from random weights.

The two sides are independent, so they train side by side in two processes (one thread each).
While the target's process trains the base LLM, the draft's trains the target's stages A and B,
then its own, then its stage C; the target's then finds its stages A and B done and runs its
stage C (`train_side`).
Everything lives in `Locations(profile).checkpoint`, keyed by the models and world settings,
the seed and MODELS_RECIPE (xsd.locations). Each stage is resumable (run_steps writes
atomic checkpoints; a finished stage leaves `done.json`), and the finished pair is two Hugging
Face folders, `draft/` and `target/`, written last.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch

from xsd.cache import replace_folder, write_json_atomic
from xsd.config import SIDES, Profile, load_profile
from xsd.locations import MODELS_RECIPE, Locations
from xsd.models import mini_base
from xsd.models.config import ModelsConfig
from xsd.models.mini_sides import BUSY, SPECS, side_logger
from xsd.models.mini_tower import pretrain_tower
from xsd.models.mini_tuning import align_projector, cache_features, save_side, tune_llm
from xsd.models.registry import ModelsNotTrained, built_world, is_trained
from xsd.processes import peak_rss_mb, run_in_processes


# -- the whole run --------------------------------------------------------------------------------

def train_pair(profile: Profile, jobs: int = 2, log=print, stop_after: tuple[str, int] | None = None) -> dict:
    """Train both sides (in `jobs` processes), save the pair, write and return training.json.

    `stop_after=(stage, step)` ends each side after that step of that stage, as a kill would
    (for testing resumption); the report is then not written.
    """
    models = require_trainable(profile)
    directory = Locations(profile).checkpoint
    if is_trained(directory):
        log(f"already trained: {directory}")
        return json.loads((directory / "training.json").read_text())
    prepare_checkpoint(profile, directory)
    started = time.perf_counter()
    tasks = [(str(profile.source or profile.name), side, str(directory), stop_after) for side in SIDES]
    reports = run_in_processes(train_side, tasks, jobs)
    if stop_after is not None:
        return {}
    report = {
        "profile": profile.name, "checkpoint": str(directory), "wall_seconds": time.perf_counter() - started,
        "jobs": jobs, "threads_per_job": models.train.threads,
        "peak_rss_mb": {"main": peak_rss_mb(),
                        **{r["side"]: r["peak_rss_mb"] for r in reports}},
        "sides": {r["side"]: r for r in reports},
    }
    if mini_base.enabled(profile):
        report["base_llm"] = json.loads((directory / mini_base.FOLDER / "done.json").read_text())
    write_json_atomic(directory / "training.json", report)
    log(f"trained pair in {directory} ({report['wall_seconds']:.0f} s wall)")
    return report


def train_base_only(profile: Profile, log=print, stop_after: tuple[str, int] | None = None) -> dict | None:
    """Only the profile's shared base LLM, in the checkpoint folder the pair will train in: trained,
    resumed, or found finished; returns its report (None when `stop_after` ended it early). For
    trying a change to the base LLM's recipe in about half the pair's time: `train_pair` later
    takes this base LLM as it finds it and trains the rest."""
    require_trainable(profile)
    if not mini_base.enabled(profile):
        raise ModelsNotTrained(f"profile {profile.name} trains no shared base LLM (base_steps: 0)")
    torch.set_num_threads(profile.models.train.threads)   # as when the pair trains it: the same weights
    directory = Locations(profile).checkpoint
    prepare_checkpoint(profile, directory)
    return mini_base.train_base_llm(profile, directory, log, stop_after)


def prepare_checkpoint(profile: Profile, directory: Path) -> None:
    """The checkpoint folder with its config.json and the shared tokenizer, which every stage reads."""
    from xsd.world.dataset import corpus

    world = built_world(profile)
    directory.mkdir(parents=True, exist_ok=True)
    write_config(profile, directory)
    save_tokenizer(corpus(world, "train"), profile.models, directory / "tokenizer")


def require_trainable(profile: Profile) -> ModelsConfig:
    models = profile.models
    if models is None or not models.trained_here or models.train is None:
        raise ModelsNotTrained(f"profile {profile.name} has no mini models to train (its models are pretrained)")
    if profile.world is None:
        raise ModelsNotTrained(f"profile {profile.name} has no world to train on")
    return models


def write_config(profile: Profile, directory: Path) -> None:
    config = {"profile": profile.name, "seed": profile.seed, "recipe": MODELS_RECIPE,
              "models": dataclasses.asdict(profile.models), "world": dataclasses.asdict(profile.world)}
    write_json_atomic(directory / "config.json", config)


def save_tokenizer(texts: list[str], models: ModelsConfig, directory: Path) -> None:
    """The shared base tokenizer, trained once so both sides read the same one."""
    from xsd.models.pair import tokenizer_texts
    from xsd.models.tokenizer import train_tokenizer

    if (directory / "tokenizer.json").is_file():
        return
    replace_folder(directory, train_tokenizer(tokenizer_texts(texts), models.vocab_size).save_pretrained)


# -- one side -------------------------------------------------------------------------------------

def train_side(profile_ref: str, side: str, directory: str, stop_after: tuple[str, int] | None = None) -> dict:
    """Stages A, B, (align), C of one side, each skipped when already done, and the base LLM before
    the first stage that reads it (and, on the side that trains it, before stage A); returns the
    side's report, in which `base_llm_seconds` is what this side spent on the base LLM (training
    it or waiting for it).

    The side that does not train the base LLM trains the other side's stages A and B first, unless
    that side's process has begun them, then its own (the pair is the same whichever process
    trains a stage: each stage is seeded by itself)."""
    profile = load_profile(profile_ref)
    models, spec, directory = profile.models, SPECS[side], Path(directory)
    torch.set_num_threads(models.train.threads)
    log = side_logger(side)
    report = {"side": side}
    stages = (pretrain_tower, cache_features) + ((align_projector,) if models.train.align_steps else ()) + (tune_llm,)
    before_base, from_base = stages[:2], stages[2:]
    with_base = mini_base.enabled(profile)
    if with_base and side == mini_base.TRAINED_BY and not _base_llm(profile, directory, log, stop_after, report):
        return report
    if with_base and side != mini_base.TRAINED_BY:
        if not _other_sides_stages(before_base, profile, side, directory, stop_after):
            return report
    for stage in before_base:
        if not _stage(stage, profile, spec, directory, log, stop_after, report):
            return report
    if with_base and not _base_llm(profile, directory, log, stop_after, report):
        return report
    for stage in from_base:
        if not _stage(stage, profile, spec, directory, log, stop_after, report):
            return report
    save_side(profile, spec, directory)
    report["seconds"] = (sum(r["seconds"] for k, r in report.items() if isinstance(r, dict))
                         + report.get("base_llm_seconds", 0.0))
    report["peak_rss_mb"] = peak_rss_mb()
    log(f"done: its stages took {report['seconds']:.0f} s, peak memory {report['peak_rss_mb']:.0f} MB")
    return report


def _stage(stage, profile: Profile, spec, directory: Path, log, stop_after, report: dict) -> bool:
    """Run (or find done) one of the side's stages into its report; False when `stop_after` ended it."""
    result = stage(profile, spec, directory, log, stop_after)
    if result is None:
        return False
    report[stage.__name__] = result
    return True


def _base_llm(profile: Profile, directory: Path, log, stop_after, report: dict) -> bool:
    """Train, resume or wait for the shared base LLM, adding the time to the side's report; False
    when `stop_after` ended it."""
    started = time.perf_counter()
    base = mini_base.train_base_llm(profile, directory, log, stop_after)
    report["base_llm_seconds"] = report.get("base_llm_seconds", 0.0) + time.perf_counter() - started
    return base is not None


def _other_sides_stages(stages, profile: Profile, side: str, directory: Path, stop_after) -> bool:
    """The other side's `stages`, trained by this side's process unless done or begun by its own
    (then left to it); False when `stop_after` ended one."""
    other = next(s for s in SIDES if s != side)
    log = side_logger(f"{other}, by the {side} process")
    for stage in stages:
        result = stage(profile, SPECS[other], directory, log, stop_after, wait=False)
        if result is BUSY:
            return True
        if result is None:
            return False
    return True
