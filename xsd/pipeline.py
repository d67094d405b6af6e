"""Each build step on demand: world → models → hidden-state stores → adapters → a live decoder.

Every step is cached by its configuration and resumable, so calling these is cheap once the
work is done; a study or command that needs a step's output asks for it here and the missing
steps run first (with progress on the console). The pipeline sits above the parts it builds
(xsd.world, xsd.models, xsd.extract, xsd.train_adapters, xsd.decode) and below the studies that
read what it built; it imports no study. Every function takes a loaded `Profile`.
"""
from __future__ import annotations

import json
from pathlib import Path

from xsd.config import Profile
from xsd.locations import Locations


def ensure_world(profile: Profile, progress: bool = True) -> Path:
    """The profile's world root, built (or finished) first if needed."""
    from xsd.world.build import build_world, world_fingerprint
    from xsd.world.layout import Layout

    root = Locations(profile).world
    if profile.world is None:
        return root  # imported data: nothing to build
    manifest = Layout(root).manifest
    if manifest.is_file() and json.loads(manifest.read_text()).get("fingerprint") == \
            world_fingerprint(profile.world, profile.seed):
        return root  # finished: the manifest is written after every sequence
    build_world(profile.world, profile.seed, root, progress=progress)
    return root


def ensure_models(profile: Profile, progress: bool = True, device=None, with_draft: bool = True):
    """The (draft, target) pair on `device` (None: the profile's), trained first if needed
    (mini/smoke: ~17 minutes for mini on 2 cores). `with_draft=False`: see
    `xsd.models.registry.load_models`."""
    from xsd.models.mini_training import train_pair
    from xsd.models.registry import is_trained, load_models

    ensure_world(profile, progress)
    if profile.models.trained_here and not is_trained(Locations(profile).checkpoint):
        train_pair(profile, log=print if progress else (lambda *_: None))
    return load_models(profile, device=device, with_draft=with_draft)


def ensure_stores(profile: Profile, progress: bool = True) -> None:
    """Both hidden-state stores of the profile, extracted first if needed (`extract_splits`)."""
    from xsd.extract import REPORT, extract_splits

    ensure_models(profile, progress)
    missing = [split for split in ("train", "test") if not (Locations(profile).store(split) / REPORT).is_file()]
    if missing:
        extract_splits(profile, missing, progress)


def ensure_adapters(profile: Profile, names=None, progress: bool = True) -> None:
    """The named adapters (default: all seven), trained first if needed (`train_profile_adapters`)."""
    from xsd.adapters import ADAPTERS
    from xsd.train_adapters import train_profile_adapters

    ensure_stores(profile, progress)
    missing = [name for name in names or ADAPTERS if not (Locations(profile).adapter(name) / "result.json").is_file()]
    if missing:
        train_profile_adapters(profile, missing, progress)


def ensure_decoder(profile: Profile, methods, gamma: int = 3, policy: str = "wait",
                   prefill_adapter: str | None = None, progress: bool = True, device=None,
                   draft_device=None, prompt_tokens: dict | None = None, static: bool = False):
    """A live `Decoder` for `methods`: the target and the heads on `device` (None: the profile's),
    and, when a method reads the draft VLM, its worker process on `draft_device` (default: the
    same device). `prompt_tokens` ({side: n}) pads both sides' prompts to n tokens
    (`ModelPair.padded`). `static`: every method but `ar` runs the target's steps over a static KV
    cache, as CUDA graphs on a GPU (`StaticTarget`); `ar-loop` is then the same-footing baseline.
    `prefill_adapter` (two-phase only) must be chosen by the caller; with random weights (shapes)
    the default is L4, the costliest, since no choice is measurable there."""
    import torch

    from xsd.decode.draft_worker import DraftWorker
    from xsd.decode.methods import NEEDS_WORKER, Decoder, static_target
    from xsd.device import resolve
    from xsd.train_adapters import decoding_adapter

    device = resolve(device, profile)
    draft_device = resolve(draft_device, profile) if draft_device else device
    random_weights = profile.models.random_weights is not None
    pair = ensure_models(profile, progress, device, with_draft=False)  # the worker loads the draft
    if prompt_tokens:
        pair.prompt_tokens = dict(prompt_tokens)
    if not random_weights:
        ensure_adapters(profile, progress=progress)
    torch.set_num_threads(1)
    needs_worker = any(m in methods for m in NEEDS_WORKER)
    names = (["B1"] if "b1" in methods else []) + (["L5F"] if needs_worker else [])
    heads = {name: decoding_adapter(profile, name, device) for name in names}
    worker = None
    if needs_worker:
        if "two-phase" in methods and not prefill_adapter:
            if not random_weights:
                raise ValueError("two-phase needs a prefill adapter: pass prefill_adapter "
                                 "(xsd.studies.feature_adapters.best_prefill_adapter chooses one)")
            prefill_adapter = "L4"
        # the worker reads the same profile file (a custom .yaml profile too), not just its name;
        # both LLMs share one hidden size, so the draft's states have the target's width
        worker = DraftWorker(profile.source or profile.name, pair.target.config.text_config.hidden_size,
                             profile.extract.max_new_tokens + 1, prefill_adapter=prefill_adapter,
                             device=str(draft_device), prompt_tokens=pair.prompt_tokens)
    threads = {"target": 1, "draft_process": 1, "device": str(device), "draft_device": str(draft_device),
               "static_target": static}
    target = static_target(pair, profile.models.video_frames, profile.extract.max_new_tokens) if static else None
    return Decoder(pair, heads, gamma=gamma, policy=policy, prefill_adapter=prefill_adapter, worker=worker,
                   threads=threads, target=target)
