"""Stage A of the mini trainer: each side's CLIP tower learns the world's dense scene attributes of
its own modality (a stand-in for CLIP / LanguageBind pretraining), from the train split's clips
plus fresh scenes rendered in memory by the world's own generator (see xsd.models.mini_training)."""
from __future__ import annotations

import time

import numpy as np
import torch

from xsd.config import Profile
from xsd.models import train
from xsd.models.config import ModelsConfig
from xsd.models.mini_sides import SideSpec, staged
from xsd.models.registry import built_world


def attribute_classes(spec: SideSpec, models: ModelsConfig) -> dict[str, int]:
    """Per-frame heads of the side's tower."""
    from xsd.world.scene import CLASSES, COLOURS, DIRECTIONS, LIGHTINGS, N_LANES

    n_attr = 1 + (len(DIRECTIONS) if spec.modality == "event" else len(COLOURS))
    classes = {"count": N_LANES + 1}
    if spec.modality == "rgb":
        classes["lighting"] = len(LIGHTINGS)
    for lane in range(N_LANES):
        classes[f"lane{lane}_class"] = 1 + len(CLASSES)
        classes[f"lane{lane}_attr"] = n_attr
        classes[f"lane{lane}_x"] = models.train.position_bins
    return classes


def clip_classes(spec: SideSpec) -> dict[str, int]:
    """Per-clip heads: the motion of each lane's agent, which an event frame shows by itself
    (its `attr`) but an RGB frame does not."""
    from xsd.world.scene import DIRECTIONS, N_LANES

    return {f"lane{lane}_motion": 1 + len(DIRECTIONS) for lane in range(N_LANES)} if spec.modality == "rgb" else {}


def tower_frames(spec: SideSpec) -> tuple[int, ...]:
    """Which frames of a clip form one stage-A sample: an event slice alone; the first and
    last of the 8 video frames (farthest apart in time) for the motion heads."""
    from xsd.world.video import TARGET_FRAMES

    return (0, TARGET_FRAMES - 1) if spec.modality == "rgb" else (0,)


def patch_classes(spec: SideSpec) -> dict[str, int]:
    """Per-token heads of the side's tower (`patch_heads`): what each patch shows, multi-hot."""
    from xsd.world.scene import CLASSES, COLOURS, DIRECTIONS

    return {"patch_class": len(CLASSES), "patch_attr": len(DIRECTIONS if spec.modality == "event" else COLOURS)}


def tower_grid(profile: Profile, spec: SideSpec) -> int:
    """Patches per side of the side's tower."""
    return side_image_size(profile, spec) // side_tower(profile, spec).patch_size


def frame_targets(truth: dict, index: int, spec: SideSpec, bins: int, patches=None) -> dict:
    """One frame's attributes as class indices (IGNORE where the frame cannot show them) and, with
    `patches` = (scene, grid), what each of its patches shows (`targets.patch_targets`)."""
    from xsd.world.targets import dense_targets, patch_targets

    dense = dense_targets(truth, index, spec.modality)
    out = {"count": int(dense["count"])}
    if spec.modality == "rgb":
        out["lighting"] = int(dense["lighting"]) if dense["lighting_mask"] else train.IGNORE
    for lane in range(len(dense["lane_class"])):
        seen = bool(dense["lane_mask"][lane])
        out[f"lane{lane}_class"] = int(dense["lane_class"][lane])
        out[f"lane{lane}_attr"] = int(dense["lane_attr"][lane]) if dense["attr_mask"][lane] else train.IGNORE
        x_bin = min(bins - 1, int(dense["lane_x"][lane] * bins))
        out[f"lane{lane}_x"] = x_bin if seen else train.IGNORE
    if patches is not None:
        out.update(patch_targets(patches[0], truth, index, spec.modality, patches[1]))
    return out


def clip_targets(truth: dict, spec: SideSpec) -> dict[str, int]:
    """Each lane's motion (1 + index in DIRECTIONS) where the side's camera sees its agent."""
    from xsd.world.scene import DIRECTIONS

    out = {name: train.IGNORE for name in clip_classes(spec)}
    for agent in truth["agents"]:
        if spec.modality == "rgb" and agent["rgb_visible"]:
            out[f"lane{agent['lane']}_motion"] = 1 + DIRECTIONS.index(agent["direction"])
    return out


def sample_targets(truth: dict, frames: tuple[int, ...], spec: SideSpec, bins: int, patches=None) -> dict[str, list]:
    """A stage-A sample's targets: per-frame attributes as lists over its frames, clip ones as [value]."""
    per_frame = [frame_targets(truth, index, spec, bins, patches) for index in frames]
    out = {name: [t[name] for t in per_frame] for name in per_frame[0]}
    out.update({name: [value] for name, value in clip_targets(truth, spec).items()})
    return out


def clip_frames(dataset, spec: SideSpec):
    """(frames uint8 [n, H, W, 3], frame index within its clip, sample) of every clip, once."""
    seen = set()
    for sample in dataset:
        if (sample.seq, sample.clip) in seen:
            continue
        seen.add((sample.seq, sample.clip))
        frames = dataset.event_frames(sample) if spec.modality == "event" else dataset.video_frames(sample)
        yield frames, sample


def world_tower_samples(profile: Profile, spec: SideSpec, split: str):
    """(frames [k, H, W, 3], targets) of the world's clips in a split; every event slice is a
    sample of its own (more pretraining images than the one slice the draft reads)."""
    from xsd.world.dataset import WorldDataset
    from xsd.world.layout import N_SLICES

    n_events = N_SLICES if spec.modality == "event" else 1
    dataset = WorldDataset(built_world(profile), split, event_frames=n_events)
    bins = profile.models.train.position_bins
    for frames, sample in clip_frames(dataset, spec):
        groups = [(k,) for k in range(len(frames))] if spec.modality == "event" else [tower_frames(spec)]
        patches = patch_source(profile, spec, int(sample.seq.removeprefix("seq")))
        for group in groups:
            yield frames[list(group)], sample_targets(sample.truth, group, spec, bins, patches)


def patch_source(profile: Profile, spec: SideSpec, sequence: int):
    """(scene, grid) for `patch_targets` of a sequence's frames when the profile trains patch
    heads, else None."""
    from xsd.world.pretraining import sequence_scene

    if not profile.models.train.patch_heads:
        return None
    return sequence_scene(profile.world, profile.seed, sequence), tower_grid(profile, spec)


def pretraining_tower_samples(profile: Profile, spec: SideSpec):
    """(frames, targets) of the extra pretraining scenes, rendered in memory (none are stored)."""
    from xsd.models.config import per_side
    from xsd.world.pretraining import PRETRAINING_OFFSET, pretraining_clip

    frames = tower_frames(spec)
    bins = profile.models.train.position_bins
    for index in range(per_side(profile.models.train.pretrain_scenes, spec.name)):
        clip = pretraining_clip(profile.world, profile.seed, index, spec.modality,
                                event_slices=len(frames), video_frames=frames)
        patches = patch_source(profile, spec, PRETRAINING_OFFSET + index)
        yield clip["frames"], sample_targets(clip["truth"], frames, spec, bins, patches)


def tower_data(profile: Profile, spec: SideSpec, split: str) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """Stage-A samples: frames uint8 [n, k, H, W, 3] and targets {name: [n, k] per frame or [n, 1] per clip}.
    The train split adds the pretraining scenes to the world's train clips."""
    samples = list(world_tower_samples(profile, spec, split))
    if split == "train":
        samples += pretraining_tower_samples(profile, spec)
    images = np.stack([frames for frames, _ in samples])
    targets = {name: torch.from_numpy(np.stack([np.asarray(t[name]) for _, t in samples]))
               for name in samples[0][1]}
    return images, targets


def side_tower(profile: Profile, spec: SideSpec):
    """The side's TowerConfig."""
    return profile.models.draft_tower if spec.name == "draft" else profile.models.target_tower


def side_image_size(profile: Profile, spec: SideSpec) -> int:
    """The input side of the side's tower (frames are resized to it)."""
    from xsd.models.config import tower_image_size

    return tower_image_size(profile.models, side_tower(profile, spec))


def new_tower(profile: Profile, spec: SideSpec) -> train.TowerPretraining:
    from xsd.models.eventgpt import clip_vision_config

    models = profile.models
    torch.manual_seed(profile.seed + (0 if spec.name == "draft" else 1))
    return train.TowerPretraining(clip_vision_config(side_tower(profile, spec), side_image_size(profile, spec)),
                                  attribute_classes(spec, models),
                                  spec.feature_layer, clip_classes(spec), len(tower_frames(spec)),
                                  patch_classes(spec) if models.train.patch_heads else None,
                                  models.train.place_heads)


def flat_batch(images: np.ndarray, targets: dict[str, torch.Tensor], image_size: int):
    """[n, k, H, W, 3] samples → CLIP pixels [n·k, 3, S, S] and targets flattened to match the heads."""
    from xsd.models.pixels import clip_pixels

    return clip_pixels(images.reshape(-1, *images.shape[2:]), image_size), flat_targets(targets)


def flat_targets(targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Targets per sample [n, k, ...] → per frame [n·k, ...], as the heads give them."""
    return {k: v.flatten(0, 1) if k in PATCH_TARGETS else v.flatten() for k, v in targets.items()}


@staged("tower")
def pretrain_tower(profile, spec, directory, folder, log, stop):
    from xsd.models.config import per_side

    cfg = profile.models.train
    steps, scenes = per_side(cfg.tower_steps, spec.name), per_side(cfg.pretrain_scenes, spec.name)
    started = time.perf_counter()
    images, targets = tower_data(profile, spec, "train")
    generated = time.perf_counter() - started
    samples_per_step = max(1, cfg.tower_batch // images.shape[1])
    log(f"stage A: tower on {len(images)} {spec.modality} samples of {images.shape[1]} frame(s) "
        f"({scenes} pretraining scenes, {generated:.0f} s), {samples_per_step} per step")
    model = new_tower(profile, spec)

    def loss_of_step(step: int) -> torch.Tensor:
        chosen = train.sample_batch(len(images), samples_per_step, profile.seed, step)
        batch, batch_targets = images[chosen], {k: v[chosen] for k, v in targets.items()}
        flip = torch.rand(len(chosen), generator=train.step_generator(profile.seed + 1, step)) < 0.5
        batch, batch_targets = mirrored(batch, batch_targets, flip.numpy(), spec, cfg.position_bins)
        pixels, flat_targets = flat_batch(batch, batch_targets, side_image_size(profile, spec))
        return train.attribute_loss(model(pixels), flat_targets)

    settings = train.LoopSettings(steps=steps, lr=cfg.tower_lr, seed=profile.seed,
                                  log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every,
                                  warmup=max(1, steps // 20), weight_decay=0.05, precision=cfg.precision)
    losses = train.run_steps(model, loss_of_step, settings, folder, log=log, stop_after=stop)
    if len(losses) < steps:
        return None
    accuracy = tower_accuracy(model, *tower_data(profile, spec, "test"), side_image_size(profile, spec))
    log("stage A test accuracy: " + ", ".join(f"{k} {v:.2f}" for k, v in accuracy.items()))
    torch.save(model.tower.state_dict(), folder / "tower.pt")
    return {"steps": steps, "samples": len(images), "pretraining_scenes": scenes,
            "generation_seconds": generated, "final_loss": float(np.mean(losses[-cfg.log_every:])),
            "test_accuracy": accuracy}


def mirrored(images: np.ndarray, targets: dict, flip: np.ndarray, spec: SideSpec, bins: int):
    """Left-right mirror the flagged samples and their targets: x bins reverse, a seen direction
    left/right swaps (an event frame's `attr`, a clip's `motion`), patch grids mirror. Images are
    [n, ..., W, 3]."""
    from xsd.world.scene import DIRECTIONS

    images = images.copy()
    images[flip] = np.flip(images[flip], axis=-2)
    left, right = 1 + DIRECTIONS.index("left"), 1 + DIRECTIONS.index("right")
    out = {}
    for name, value in targets.items():
        value = value.clone()
        if name in PATCH_TARGETS:
            out[name] = mirrored_patches(value, torch.from_numpy(flip), name == "patch_attr" and spec.modality == "event")
            continue
        rows = torch.from_numpy(flip).reshape(-1, *[1] * (value.ndim - 1)) & (value != train.IGNORE)
        if name.endswith("_x"):
            value[rows] = bins - 1 - value[rows]
        elif name.startswith("lane") and (name.endswith("_motion") or
                                          (name.endswith("_attr") and spec.modality == "event")):
            swapped = value.clone()
            swapped[rows & (value == left)] = right
            swapped[rows & (value == right)] = left
            value = swapped
        out[name] = value
    return images, out


PATCH_TARGETS = ("patch_class", "patch_attr")


def mirrored_patches(value: torch.Tensor, flip: torch.Tensor, directions: bool) -> torch.Tensor:
    """[n, frames, grid², c] patch targets with the flagged samples' grids mirrored left-right (and,
    for `directions`, their left and right channels swapped)."""
    from xsd.world.scene import DIRECTIONS

    n, frames, cells, channels = value.shape
    grid = int(round(cells ** 0.5))
    grids = value.reshape(n, frames, grid, grid, channels)
    mirror = grids.flip(3)
    if directions:
        order = list(range(channels))
        left, right = DIRECTIONS.index("left"), DIRECTIONS.index("right")
        order[left], order[right] = right, left
        mirror = mirror[..., order]
    return torch.where(flip.reshape(-1, 1, 1, 1, 1), mirror, grids).reshape(value.shape)


@torch.no_grad()
def tower_accuracy(model, images, targets, image_size: int, batch: int = 64) -> dict[str, float]:
    """Test accuracy of the attribute heads, averaged over the lanes of each attribute. A lane's
    `class` counts only where the lane holds a road user; whether it holds one is `occupied`
    (about two lanes in five are empty, and telling so is easy: counted in, empty lanes would lift
    `class` well above what the tower knows of the road users)."""
    logits = head_logits(model, images, image_size, batch)
    per_head = train.attribute_accuracy(logits, road_users_only(flat_targets(targets)))
    per_head.update(occupancy_accuracy(logits, flat_targets(targets)))
    grouped: dict[str, list[float]] = {}
    for name, value in per_head.items():
        grouped.setdefault(name.split("_", 1)[-1] if name.startswith("lane") else name, []).append(value)
    return {name: float(np.mean(values)) for name, values in grouped.items()}


@torch.no_grad()
def head_logits(model, images: np.ndarray, image_size: int, batch: int = 64) -> dict[str, torch.Tensor]:
    """Every head's logits over [n, k, H, W, 3] samples, flattened per frame as `flat_targets`."""
    out: dict[str, list] = {}
    for start in range(0, len(images), batch):
        pixels, _ = flat_batch(images[start:start + batch], {}, image_size)
        for name, value in model(pixels).items():
            out.setdefault(name, []).append(value)
    return {name: torch.cat(values) for name, values in out.items()}


def road_users_only(targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The targets with every empty lane's class (0) ignored: `class` is scored on road users only.
    Patch targets are multi-hot, where 0 means "not shown", and stay as they are."""
    return {name: torch.where(value == 0, train.IGNORE, value) if is_lane_class(name) else value
            for name, value in targets.items()}


def is_lane_class(name: str) -> bool:
    return name.startswith("lane") and name.endswith("_class")


def occupancy_accuracy(logits: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per lane class head, `lane<k>_occupied`: how often it tells an empty lane from one with a road user."""
    heads = [name for name in logits if is_lane_class(name)]
    return {name.replace("_class", "_occupied"):
            ((logits[name].argmax(-1) == 0) == (targets[name] == 0)).float().mean().item() for name in heads}
