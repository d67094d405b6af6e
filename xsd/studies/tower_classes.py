"""What a trained tower's stage-A heads make of the road users in the test clips: which class they
take each one for (a confusion table), how that depends on what the frame shows of it (for an
event frame, how many events the road user made in its slice; for a video frame, the light), and
how often they get a road user's class and one of its facts right together, which is what a
question naming a class needs ("What colour is the cyclist?" needs the cyclist found first).

The heads are those stage A trained (its checkpoint, `<side>_tower/state.pt` in the profile's
checkpoint folder); only profiles whose towers were trained here have them."""
from __future__ import annotations

import torch

from xsd.config import Profile

EMPTY = "empty"
EVENT_BINS = (20, 80)   # events of a road user in a slice: below 20, 20 to 79, 80 or more
JOINT = {"class+attr": "attr", "class+x": "x", "class+motion": "motion"}


def tower_classes(profile: Profile, side: str) -> dict:
    """The side's tower on the test clips: `confusion` {true class: {taken for: road users}},
    `by_evidence` {label: {"right": n, "road_users": n}} (class right, in the order the labels
    rise), `evidence` (what the labels count) and `joint` {"class+<fact>": accuracy}."""
    from xsd.models import mini_tower
    from xsd.models.mini_sides import SPECS

    spec = SPECS[side]
    model = stage_a_model(profile, side)
    images, targets = mini_tower.tower_data(profile, spec, "test")
    logits = mini_tower.head_logits(model, images, mini_tower.side_image_size(profile, spec))
    flat = mini_tower.flat_targets(targets)
    frames = list(test_frames(profile, spec))
    if len(frames) != len(next(iter(flat.values()))):
        raise RuntimeError(f"{side} tower: {len(frames)} test frames against {len(next(iter(flat.values())))} targets")
    return {"evidence": "events in the frame's slice" if spec.modality == "event" else "lighting",
            "confusion": confusion(logits, flat),
            "by_evidence": by_evidence(logits, flat, frames, spec.modality),
            "joint": joint_accuracy(logits, flat, images.shape[1])}


def stage_a_model(profile: Profile, side: str):
    """The side's tower with the heads stage A trained, from its checkpoint."""
    from xsd.locations import Locations
    from xsd.models import mini_tower
    from xsd.models.mini_sides import SPECS

    path = Locations(profile).checkpoint / f"{side}_tower" / "state.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no stage-A checkpoint of the {side} tower (are the "
                                f"{profile.name} models trained here? `xsd models train --profile {profile.name}`)")
    model = mini_tower.new_tower(profile, SPECS[side])
    missing, unexpected = model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"],
                                                strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: does not match the profile's {side} tower "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval()


def test_frames(profile: Profile, spec):
    """(truth, frame index) of every test frame, in the order `mini_tower.tower_data` flattens them."""
    from xsd.models import mini_tower
    from xsd.models.registry import built_world
    from xsd.world.dataset import WorldDataset
    from xsd.world.layout import N_SLICES

    dataset = WorldDataset(built_world(profile), "test", event_frames=N_SLICES if spec.modality == "event" else 1)
    for frames, sample in mini_tower.clip_frames(dataset, spec):
        indices = range(len(frames)) if spec.modality == "event" else mini_tower.tower_frames(spec)
        for index in indices:
            yield sample.truth, index


def class_names() -> list[str]:
    from xsd.world.scene import CLASSES

    return [EMPTY, *CLASSES]


def lane_heads(flat: dict) -> list[int]:
    """The lanes with a class head (patch heads, where trained, end in `_class` too)."""
    from xsd.models.mini_tower import is_lane_class

    return sorted(int(name[4:].split("_")[0]) for name in flat if is_lane_class(name))


def confusion(logits: dict, flat: dict) -> dict[str, dict[str, int]]:
    """{true class: {class taken for: road users}} over every lane holding a road user."""
    names = class_names()
    table = {name: {taken: 0 for taken in names} for name in names[1:]}
    for lane in lane_heads(flat):
        truth, taken = flat[f"lane{lane}_class"], logits[f"lane{lane}_class"].argmax(-1)
        for t, p in zip(truth.tolist(), taken.tolist()):
            if t > 0:
                table[names[t]][names[p]] += 1
    return table


def evidence_label(truth: dict, agent: dict, index: int, modality: str) -> str:
    """How much the frame shows of a road user: its events in the slice, or the clip's light."""
    if modality != "event":
        return truth["lighting"]
    events = agent["events_time"][index]
    return evidence_order(modality)[sum(events >= edge for edge in EVENT_BINS)]


def evidence_order(modality: str) -> list[str]:
    """The evidence labels, rising: event-count bins from MIN_EVENTS (when the event view counts a
    road user as seen) on, or the lightings."""
    from xsd.world.build import MIN_EVENTS
    from xsd.world.scene import LIGHTINGS

    if modality != "event":
        return list(LIGHTINGS)
    low, high = EVENT_BINS
    return [f"{MIN_EVENTS}-{low - 1} events", f"{low}-{high - 1} events", f"{high}+ events"]


def by_evidence(logits: dict, flat: dict, frames: list, modality: str) -> dict[str, dict[str, int]]:
    """Class right per evidence label, over the road users the frames show."""
    out = {label: {"right": 0, "road_users": 0} for label in evidence_order(modality)}
    for lane in lane_heads(flat):
        truth, taken = flat[f"lane{lane}_class"], logits[f"lane{lane}_class"].argmax(-1)
        for row, (scene, index) in enumerate(frames):
            if truth[row] <= 0:
                continue
            agent = next(a for a in scene["agents"] if a["lane"] == lane)
            cell = out[evidence_label(scene, agent, index, modality)]
            cell["road_users"] += 1
            cell["right"] += int(taken[row] == truth[row])
    return out


def joint_accuracy(logits: dict, flat: dict, frames_per_clip: int) -> dict[str, float]:
    """How often a lane's class and one fact of its road user are both right, over the road users
    whose fact the frame shows; a clip's `motion` is set against each of its frames' class."""
    from xsd.models.train import IGNORE

    out = {}
    for name, fact in JOINT.items():
        right, counted = 0, 0
        for lane in lane_heads(flat):
            key = f"lane{lane}_{fact}"
            if key not in flat:
                continue
            class_right = logits[f"lane{lane}_class"].argmax(-1) == flat[f"lane{lane}_class"]
            fact_truth, fact_taken = flat[key], logits[key].argmax(-1)
            if fact == "motion":   # per clip: repeat over the clip's frames
                fact_truth = fact_truth.repeat_interleave(frames_per_clip)
                fact_taken = fact_taken.repeat_interleave(frames_per_clip)
            shown = (fact_truth != IGNORE) & (flat[f"lane{lane}_class"] > 0)
            right += int((class_right & (fact_taken == fact_truth))[shown].sum())
            counted += int(shown.sum())
        if counted:
            out[name] = right / counted
    return out
