"""Measured results the notebooks share, computed once per configuration and cached as JSON.

Each result is keyed by everything that shapes it (the profile's models checkpoint, adapters,
settings), so changing a setting recomputes it and nothing stale is ever read.
"""
from __future__ import annotations

import json
import os
from typing import Callable

from xsd import paths
from xsd.config import Profile, fingerprint, load_profile
from xsd.decode.names import POLICIES


def _profile(profile: str | Profile) -> Profile:
    return load_profile(profile) if isinstance(profile, str) else profile


def cached_json(profile: Profile, name: str, key: dict, compute: Callable[[], dict], refresh: bool = False) -> dict:
    path = paths.ensure(paths.cache_dir() / "results" / profile.name) / f"{name}-{fingerprint(key)}.json"
    if path.is_file() and not refresh:
        return json.loads(path.read_text())
    text = json.dumps(compute(), indent=1, default=str)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
    return json.loads(text)  # the same object a later cached read returns


def _models_key(profile: Profile) -> str:
    from xsd.models.mini_training import checkpoint_dir

    return checkpoint_dir(profile).name


def stage_timings(profile: str | Profile, threads: int = 1, repeats: int = 10, refresh: bool = False,
                  progress: bool = False) -> dict:
    """Both models' stage timings (vision, projector, prefill, decode), c and the prefill ratio."""
    from xsd.models.timing import profile_stage_timings
    from xsd.pipeline import ensure_models

    profile = _profile(profile)
    ensure_models(profile, progress)
    key = {"models": _models_key(profile), "threads": threads, "repeats": repeats}
    return cached_json(profile, "stage_timings", key,
                       lambda: profile_stage_timings(profile, threads=threads, repeats=repeats), refresh)


def training_report(profile: str | Profile, progress: bool = False) -> dict | None:
    """How long the profile's models took to train and their peak memory (None: pretrained)."""
    from xsd.models.mini_training import training_report as report
    from xsd.pipeline import ensure_models

    profile = _profile(profile)
    ensure_models(profile, progress)
    return report(profile)


def model_accuracy(profile: str | Profile, limit: int | None = 40, progress: bool = False) -> dict:
    """Key-fact accuracy per question type of both models (cached beside the checkpoint)."""
    from xsd.models.evaluate import evaluate_profile
    from xsd.pipeline import ensure_models

    profile = _profile(profile)
    ensure_models(profile, progress)
    return evaluate_profile(profile, limit=limit)


def fact_choice(profile: str | Profile, limit: int | None = 40, refresh: bool = False, progress: bool = False) -> dict:
    """Both models' teacher-forced choice of a fact on the train and the test split
    (see xsd.models.fact_choice): reading against remembering."""
    from xsd.models.fact_choice import train_and_test_choice
    from xsd.pipeline import ensure_models

    profile = _profile(profile)
    ensure_models(profile, progress)
    key = {"models": _models_key(profile), "limit": limit}
    return cached_json(profile, "fact_choice", key, lambda: train_and_test_choice(profile, limit), refresh)


def decode_benchmark(profile: str | Profile, n: int = 24, gammas=(2, 3, 4), policies=POLICIES,
                     qtypes: tuple[str, ...] = (), refresh: bool = False, progress: bool = False) -> dict:
    """The live wall-clock benchmark of every decoding method (see xsd.decode.bench), on n test
    samples of every question type, or of the types `qtypes` only."""
    from xsd.decode.bench import bench_decode
    from xsd.pipeline import ensure_adapters
    from xsd.train_adapters import adapter_dir

    profile = _profile(profile)
    ensure_adapters(profile, progress=progress)
    # the adapters by their place under the models folder, not an absolute path: a moved cache is reused
    adapters = [adapter_dir(profile, n_).relative_to(paths.models_dir()).as_posix() for n_ in ("B1", "L5F")]
    key = {"models": _models_key(profile), "adapters": adapters,
           "n": n, "gammas": list(gammas), "policies": list(policies), "qtypes": list(qtypes),
           "extract": profile.extract,
           # bump when the benchmark's output or the decoder's speed changes (2: in-loop per-call
           # costs; 3: heads skip their alignment output and rebuilt rotary tables when drafting;
           # 4: head steps timed in the loop; 5: every method's inputs, prefill and decode phase timed
           # over the same spans, ar's by generate's first step; decode speedups over ar and ar-loop)
           "format": 5}
    return cached_json(profile, "decode_benchmark", key,
                       lambda: bench_decode(profile, n=n, gammas=tuple(gammas), policies=tuple(policies),
                                            qtypes=tuple(qtypes), progress=progress),
                       refresh)


def measured_c(profile: str | Profile) -> tuple[float, str]:
    """c = T_draft_decode / T_target_decode from the stage benchmark, with a description."""
    timings = stage_timings(profile)
    c = timings["c"]
    return c, f"{timings['profile']} models, stage benchmark ({timings.get('threads', 1)} thread)"

