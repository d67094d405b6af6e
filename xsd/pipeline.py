"""Each step of the pipeline on demand: world → models → hidden-state stores → adapters.

Every step is cached by its configuration and resumable, so calling these is cheap once the
work is done; a notebook or command that needs a result asks for it here and the missing steps
run first (with progress on the console).
"""
from __future__ import annotations

import time
from pathlib import Path

from xsd import paths
from xsd.config import Profile, load_profile


def _profile(profile: str | Profile) -> Profile:
    return load_profile(profile) if isinstance(profile, str) else profile


def ensure_world(profile: str | Profile, progress: bool = True) -> Path:
    """The profile's world root, built (or finished) first if needed."""
    import json

    from xsd.world.build import build_world, world_fingerprint
    from xsd.world.layout import Layout

    profile = _profile(profile)
    root = paths.world_dir(profile.name)
    if profile.world is None:
        return root  # imported data: nothing to build
    manifest = Layout(root).manifest
    if manifest.is_file() and json.loads(manifest.read_text()).get("fingerprint") == \
            world_fingerprint(profile.world, profile.seed):
        return root  # finished: the manifest is written after every sequence
    build_world(profile.world, profile.seed, root, progress=progress)
    return root


def ensure_models(profile: str | Profile, progress: bool = True, device=None, with_draft: bool = True):
    """The (draft, target) pair on `device` (None: the profile's), training it first if needed
    (`with_draft=False`: see `trained_pair`)."""
    from xsd.models.mini_training import trained_pair

    profile = _profile(profile)
    ensure_world(profile, progress)
    return trained_pair(profile, train_if_missing=True, log=print if progress else (lambda *_: None),
                        device=device, with_draft=with_draft)


def ensure_stores(profile: str | Profile, progress: bool = True) -> None:
    """Both hidden-state stores of the profile, extracted first if needed."""
    from xsd.extract import REPORT, extract, store_dir

    profile = _profile(profile)
    ensure_models(profile, progress)
    for split in ("train", "test"):
        if not (store_dir(profile, split) / REPORT).is_file():
            extract(profile, split, progress=progress)


def ensure_adapters(profile: str | Profile, names=None, progress: bool = True) -> None:
    """The named adapters (default: all seven), trained first if needed."""
    from xsd.adapters import ADAPTERS
    from xsd.train_adapters import adapter_dir, train_profile_adapter

    profile = _profile(profile)
    ensure_stores(profile, progress)
    for name in names or ADAPTERS:
        if not (adapter_dir(profile, name) / "result.json").is_file():
            train_profile_adapter(profile, name, progress=progress)


def prepare_book(profile: str | Profile, progress: bool = True) -> list[tuple[str, float]]:
    """Every expensive step the studies read, run up front with progress on the console, so the
    notebooks that `xsd book` executes find their inputs cached. Returns (step, seconds) of this
    run: a step already cached takes a fraction of a second."""
    from xsd import adapter_eval, results, token_level
    from xsd.decode.bench import LONG_ANSWER_SAMPLES, LONG_ANSWERS

    profile = _profile(profile)
    steps = [
        ("world", lambda: ensure_world(profile, progress)),
        ("models", lambda: ensure_models(profile, progress)),
        ("model accuracy", lambda: results.model_accuracy(profile, progress=progress)),
        ("fact check", lambda: results.fact_choice(profile, progress=progress)),
        ("stage timings", lambda: results.stage_timings(profile, progress=progress)),
        ("hidden-state stores", lambda: ensure_stores(profile, progress)),
        ("adapters", lambda: ensure_adapters(profile, progress=progress)),
        ("adapter evaluation", lambda: adapter_eval.evaluate_profile(profile, progress=progress)),
        ("token-level study", lambda: token_level.token_level_study(profile, progress=progress)),
        ("decode benchmark", lambda: results.decode_benchmark(profile, progress=progress)),
        ("decode benchmark, long answers", lambda: results.decode_benchmark(
            profile, n=LONG_ANSWER_SAMPLES, qtypes=LONG_ANSWERS, progress=progress)),
    ]
    took = []
    for index, (name, step) in enumerate(steps, 1):
        print(f"[prepare {index}/{len(steps)}] {name}", flush=True)
        started = time.perf_counter()
        step()
        took.append((name, time.perf_counter() - started))
        print(f"[prepare {index}/{len(steps)}] {name}: {took[-1][1]:.0f} s", flush=True)
    return took
