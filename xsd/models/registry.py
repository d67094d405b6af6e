"""A profile's models, loaded: the one place that knows where each profile's pair comes from.

    mini, smoke  the pair `xsd models train` wrote for this exact configuration
                 (`Locations(profile).checkpoint`); ModelsNotTrained with the command to run
                 when it is absent (`xsd.pipeline.ensure_models` trains it first)
    full         the real checkpoints from the profile's local folders (xsd.models.loading)
    shapes       the full architectures with random weights, built on the device (xsd.models.shapes)

Loading never trains: the trainer (xsd.models.mini_training) sits beside this module, and the
pipeline decides when to run it.
"""
from __future__ import annotations

import json
from pathlib import Path

from xsd.config import Profile
from xsd.locations import Locations


class ModelsNotTrained(RuntimeError):
    """The profile's mini models have not been trained (or training did not finish)."""


def is_trained(directory: Path) -> bool:
    return (Path(directory) / "training.json").is_file()


def built_world(profile: Profile) -> Path:
    """The profile's world folder, which the mini models are trained on and read from."""
    from xsd.world.layout import Layout

    root = Locations(profile).world
    if not Layout(root).questions.is_file():
        raise ModelsNotTrained(f"no world at {root}; build it with `xsd world build --profile {profile.name}`")
    return root


def trained_checkpoint(profile: Profile) -> Path:
    """The finished checkpoint folder of a mini/smoke profile; ModelsNotTrained when absent."""
    directory = Locations(profile).checkpoint
    if not is_trained(directory):
        raise ModelsNotTrained(f"the {profile.name} models are not trained yet (no finished checkpoint in "
                               f"{directory}); run `xsd models train --profile {profile.name}`")
    return directory


def training_report(profile: Profile) -> dict | None:
    """What training the profile's pair cost (training.json: wall time, per-stage seconds, peak
    memory), or None for pretrained models; ModelsNotTrained if they are not trained yet."""
    if not profile.models.trained_here:
        return None
    return json.loads((trained_checkpoint(profile) / "training.json").read_text())


def load_models(profile: Profile, device=None, with_draft: bool = True):
    """The profile's (draft, target) pair, ready to run on `device` (None: the profile's, see
    xsd.device). `with_draft=False` leaves the 7B draft out where it is large (full, shapes): the
    live decoder's main process needs the target only, its draft worker loads the draft itself."""
    from xsd.device import resolve
    from xsd.models.loading import load_pretrained_pair, load_saved_pair

    device = resolve(device, profile)
    if profile.models.random_weights is not None:
        from xsd.models.shapes import random_pair

        return random_pair(profile, device, with_draft)
    if not profile.models.trained_here:
        return load_pretrained_pair(profile.models.pretrained, device, with_draft)
    pair = load_saved_pair(trained_checkpoint(profile))
    if device.type != "cpu":
        pair.draft, pair.target = pair.draft.to(device), pair.target.to(device)
    return pair


def draft_side(profile: Profile, device=None):
    """(a ModelPair holding the draft and its tokenizer only, the target's LM head weight [V, H]) on
    `device`: what the draft worker needs, without loading a second target."""
    from xsd.device import resolve
    from xsd.models.loading import load_draft, load_lm_head_weight, load_tokenizer, resolve_path
    from xsd.models.pair import ModelPair

    device = resolve(device, profile)
    if profile.models.random_weights is not None:
        from xsd.models.shapes import random_draft_side

        return random_draft_side(profile, device)
    if profile.models.trained_here:
        directory = trained_checkpoint(profile)
        draft_path, target_path, quant = directory / "draft", directory / "target", (False, "float32")
    else:
        pretrained = profile.models.pretrained
        draft_path, target_path = resolve_path(pretrained, "eventgpt_path"), resolve_path(pretrained, "videollava_path")
        quant = (pretrained.load_in_4bit, pretrained.compute_dtype)
    draft = load_draft(draft_path, *quant, device=device)
    if profile.models.trained_here and device.type != "cpu":
        draft = draft.to(device)
    lm_head = load_lm_head_weight(target_path).to(device, draft.get_output_embeddings().weight.dtype)
    pair = ModelPair(draft=draft, target=None, draft_tokenizer=load_tokenizer(draft_path, "EventGPT draft"),
                     target_tokenizer=None)
    return pair, lm_head
