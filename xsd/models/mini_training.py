"""Training the mini/smoke pair from the world, the way the real models were built.

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
  C. `tune`: projector + LLM learn from the cached features, in the side's own answer style, from
     every question of a clip packed behind its visual tokens, each turn seeing only those and
     itself (`train.conversation_batch`), loss on answer tokens only.

The two sides are independent, so they train side by side in two processes (one thread each).
Everything lives in `Locations(profile).checkpoint`, keyed by the models and world settings,
the seed and MODELS_RECIPE (xsd.locations). Each stage is resumable (run_steps writes
atomic checkpoints; a finished stage leaves `done.json`), and the finished pair is two Hugging
Face folders, `draft/` and `target/`, written last.
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xsd.cache import replace_folder, torch_save_atomic, write_json_atomic
from xsd.config import SIDES, Profile, load_profile
from xsd.locations import MODELS_RECIPE, Locations
from xsd.models import train
from xsd.models.config import ModelsConfig
from xsd.models.registry import ModelsNotTrained, built_world, is_trained
from xsd.processes import peak_rss_mb, run_in_processes


@dataclass(frozen=True)
class SideSpec:
    """What differs between the two sides."""
    name: str
    modality: str        # dense_targets' modality of the tower's frames
    feature_layer: int   # the tower layer the VLM reads (EventGPT: last; Video-LLaVA: second to last)
    answer_style: str    # Sample attribute with this side's reference answers
    view: str            # the modality view (xsd.world.qa.view) those answers come from


SPECS = {
    "draft": SideSpec("draft", "event", -1, "answer_event", "event"),
    "target": SideSpec("target", "rgb", -2, "answer_video", "video"),
}


# -- the whole run --------------------------------------------------------------------------------

def train_pair(profile: Profile, jobs: int = 2, log=print, stop_after: tuple[str, int] | None = None) -> dict:
    """Train both sides (in `jobs` processes), save the pair, write and return training.json.

    `stop_after=(stage, step)` ends each side after that step of that stage, as a kill would
    (for testing resumption); the report is then not written.
    """
    from xsd.world.dataset import corpus

    models = require_trainable(profile)
    directory = Locations(profile).checkpoint
    if is_trained(directory):
        log(f"already trained: {directory}")
        return json.loads((directory / "training.json").read_text())
    world = built_world(profile)
    directory.mkdir(parents=True, exist_ok=True)
    write_config(profile, directory)
    save_tokenizer(corpus(world, "train"), models, directory / "tokenizer")
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
    write_json_atomic(directory / "training.json", report)
    log(f"trained pair in {directory} ({report['wall_seconds']:.0f} s wall)")
    return report


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
    """Stages A, B, C of one side, each skipped when already done; returns the side's report."""
    profile = load_profile(profile_ref)
    models, spec, directory = profile.models, SPECS[side], Path(directory)
    torch.set_num_threads(models.train.threads)
    log = side_logger(side)
    report = {"side": side}
    for stage in (pretrain_tower, cache_features, tune_llm):
        result = stage(profile, spec, directory, log, stop_after)
        if result is None:
            return report
        report[stage.__name__] = result
    save_side(profile, spec, directory)
    report["seconds"] = sum(r["seconds"] for k, r in report.items() if isinstance(r, dict))
    report["peak_rss_mb"] = peak_rss_mb()
    log(f"done in {report['seconds']:.0f} s, peak memory {report['peak_rss_mb']:.0f} MB")
    return report


def side_logger(side: str) -> Callable[[str], None]:
    def log(message: str) -> None:
        print(f"[{side}] {message}", flush=True)
    return log


def staged(name: str):
    """Run a stage once: its report is kept in <side>_<name>/done.json and reused afterwards."""
    def wrap(body):
        def stage(profile, spec, directory, log, stop_after):
            folder = directory / f"{spec.name}_{name}"
            done = folder / "done.json"
            if done.is_file():
                return json.loads(done.read_text())
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            stop = stop_after[1] if stop_after and stop_after[0] == name else None
            result = body(profile, spec, directory, folder, log, stop)
            if result is None:  # stopped early
                return None
            result["seconds"] = time.perf_counter() - started
            write_json_atomic(done, result)
            return result
        stage.__name__ = name
        return stage
    return wrap


# -- stage A: the tower on dense attributes ----------------------------------------------------------

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


def frame_targets(truth: dict, index: int, spec: SideSpec, bins: int) -> dict[str, int]:
    """One frame's attributes as class indices (IGNORE where the frame cannot show them)."""
    from xsd.world.targets import dense_targets

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
    return out


def clip_targets(truth: dict, spec: SideSpec) -> dict[str, int]:
    """Each lane's motion (1 + index in DIRECTIONS) where the side's camera sees its agent."""
    from xsd.world.scene import DIRECTIONS

    out = {name: train.IGNORE for name in clip_classes(spec)}
    for agent in truth["agents"]:
        if spec.modality == "rgb" and agent["rgb_visible"]:
            out[f"lane{agent['lane']}_motion"] = 1 + DIRECTIONS.index(agent["direction"])
    return out


def sample_targets(truth: dict, frames: tuple[int, ...], spec: SideSpec, bins: int) -> dict[str, list[int]]:
    """A stage-A sample's targets: per-frame attributes as lists over its frames, clip ones as [value]."""
    per_frame = [frame_targets(truth, index, spec, bins) for index in frames]
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
        for group in groups:
            yield frames[list(group)], sample_targets(sample.truth, group, spec, bins)


def pretraining_tower_samples(profile: Profile, spec: SideSpec):
    """(frames, targets) of the extra pretraining scenes, rendered in memory (none are stored)."""
    from xsd.models.config import per_side
    from xsd.world.pretraining import pretraining_clip

    frames = tower_frames(spec)
    bins = profile.models.train.position_bins
    for index in range(per_side(profile.models.train.pretrain_scenes, spec.name)):
        clip = pretraining_clip(profile.world, profile.seed, index, spec.modality,
                                event_slices=len(frames), video_frames=frames)
        yield clip["frames"], sample_targets(clip["truth"], frames, spec, bins)


def tower_data(profile: Profile, spec: SideSpec, split: str) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """Stage-A samples: frames uint8 [n, k, H, W, 3] and targets {name: [n, k] per frame or [n, 1] per clip}.
    The train split adds the pretraining scenes to the world's train clips."""
    samples = list(world_tower_samples(profile, spec, split))
    if split == "train":
        samples += pretraining_tower_samples(profile, spec)
    images = np.stack([frames for frames, _ in samples])
    targets = {name: torch.tensor([t[name] for _, t in samples]) for name in samples[0][1]}
    return images, targets


def new_tower(profile: Profile, spec: SideSpec) -> train.TowerPretraining:
    from xsd.models.eventgpt import clip_vision_config

    models = profile.models
    tower = models.draft_tower if spec.name == "draft" else models.target_tower
    torch.manual_seed(profile.seed + (0 if spec.name == "draft" else 1))
    return train.TowerPretraining(clip_vision_config(tower, models.image_size), attribute_classes(spec, models),
                                  spec.feature_layer, clip_classes(spec), len(tower_frames(spec)))


def flat_batch(images: np.ndarray, targets: dict[str, torch.Tensor], image_size: int):
    """[n, k, H, W, 3] samples → CLIP pixels [n·k, 3, S, S] and targets flattened to match the heads."""
    from xsd.models.pixels import clip_pixels

    return clip_pixels(images.reshape(-1, *images.shape[2:]), image_size), {k: v.flatten() for k, v in targets.items()}


@staged("tower")
def pretrain_tower(profile, spec, directory, folder, log, stop):
    from xsd.models.config import per_side

    models, cfg = profile.models, profile.models.train
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
        pixels, flat_targets = flat_batch(batch, batch_targets, models.image_size)
        return train.attribute_loss(model(pixels), flat_targets)

    settings = train.LoopSettings(steps=steps, lr=cfg.tower_lr, seed=profile.seed,
                                  log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every,
                                  warmup=max(1, steps // 20), weight_decay=0.05)
    losses = train.run_steps(model, loss_of_step, settings, folder, log=log, stop_after=stop)
    if len(losses) < steps:
        return None
    accuracy = tower_accuracy(model, *tower_data(profile, spec, "test"), models.image_size)
    log("stage A test accuracy: " + ", ".join(f"{k} {v:.2f}" for k, v in accuracy.items()))
    torch.save(model.tower.state_dict(), folder / "tower.pt")
    return {"steps": steps, "samples": len(images), "pretraining_scenes": scenes,
            "generation_seconds": generated, "final_loss": float(np.mean(losses[-cfg.log_every:])),
            "test_accuracy": accuracy}


def mirrored(images: np.ndarray, targets: dict, flip: np.ndarray, spec: SideSpec, bins: int):
    """Left-right mirror the flagged samples and their targets: x bins reverse, a seen direction
    left/right swaps (an event frame's `attr`, a clip's `motion`). Images are [n, ..., W, 3]."""
    from xsd.world.scene import DIRECTIONS

    images = images.copy()
    images[flip] = np.flip(images[flip], axis=-2)
    left, right = 1 + DIRECTIONS.index("left"), 1 + DIRECTIONS.index("right")
    out = {}
    for name, value in targets.items():
        value = value.clone()
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


@torch.no_grad()
def tower_accuracy(model, images, targets, image_size: int, batch: int = 64) -> dict[str, float]:
    """Test accuracy of the attribute heads, averaged over the lanes of each attribute."""
    logits: dict[str, list] = {}
    for start in range(0, len(images), batch):
        pixels, _ = flat_batch(images[start:start + batch], {}, image_size)
        for name, value in model(pixels).items():
            logits.setdefault(name, []).append(value)
    flat_targets = {k: v.flatten() for k, v in targets.items()}
    per_head = train.attribute_accuracy({k: torch.cat(v) for k, v in logits.items()}, flat_targets)
    grouped: dict[str, list[float]] = {}
    for name, value in per_head.items():
        grouped.setdefault(name.split("_", 1)[-1] if name.startswith("lane") else name, []).append(value)
    return {name: float(np.mean(values)) for name, values in grouped.items()}


# -- stage B: cached features of the frozen tower -------------------------------------------------------

def load_tower_into(model, directory: Path, spec: SideSpec) -> None:
    """Video-LLaVA has an image and a video tower (one LanguageBind encoder each); both get the
    pretrained weights, though only the video tower reads the clips."""
    state = torch.load(directory / f"{spec.name}_tower" / "tower.pt", map_location="cpu", weights_only=True)
    names = ("vision_tower",) if spec.name == "draft" else ("image_tower", "video_tower")
    for name in names:
        getattr(model.model, name).load_state_dict(state)


@staged("features")
@torch.no_grad()
def cache_features(profile, spec, directory, folder, log, stop):
    """Tower features [frames, tokens, C] at the layer the VLM reads, of every train clip and
    of the first `tune_scenes` pretraining scenes, whose questions are answered here from the
    side's view (the world's 720 train clips alone are memorised by the LLM, as by the tower)."""
    from xsd.models.pixels import clip_pixels
    from xsd.world.dataset import WorldDataset

    models = profile.models
    tower = new_tower(profile, spec)
    tower.tower.load_state_dict(torch.load(directory / f"{spec.name}_tower" / "tower.pt", weights_only=True))
    tower.eval()
    dataset = WorldDataset(built_world(profile), "train", event_frames=models.event_frames)
    features = {}
    for frames, sample in clip_frames(dataset, spec):
        features[f"{sample.seq}/{sample.clip}"] = tower.features(clip_pixels(frames, models.image_size)).half()
    conversations = {}
    for key, frames, turns in scene_conversations(profile, spec):
        features[key] = tower.features(clip_pixels(frames, models.image_size)).half()
        conversations[key] = turns
    torch_save_atomic(features, folder / "features.pt")
    write_json_atomic(folder / "scene_conversations.json", conversations)
    log(f"stage B: cached features of {len(features)} clips ({len(conversations)} of them pretraining scenes)")
    return {"clips": len(features), "scenes": len(conversations)}


def scene_conversations(profile: Profile, spec: SideSpec):
    """(key, frames the VLM reads, [(question, answer)]) of the side's stage-C pretraining scenes."""
    from xsd.models.config import per_side
    from xsd.world.pretraining import pretraining_clip
    from xsd.world.qa import view_questions
    from xsd.world.video import TARGET_FRAMES

    models = profile.models
    for index in range(per_side(models.train.tune_scenes, spec.name)):
        clip = pretraining_clip(profile.world, profile.seed, index, spec.modality,
                                event_slices=models.event_frames, video_frames=range(TARGET_FRAMES))
        rng = np.random.default_rng([profile.seed, index, SIDES.index(spec.name)])
        turns = [(q["question"], q["answer"]) for q in view_questions(clip["truth"], spec.view, rng)]
        yield f"pretraining/{index}", clip["frames"], turns


# -- stage C: projector + LLM instruction tuning ----------------------------------------------------

def side_model(profile: Profile, spec: SideSpec, directory: Path):
    """A fresh VLM of this side with the pretrained tower in it, and its tokenizer."""
    from transformers import AutoTokenizer

    from xsd.models.eventgpt import build_draft
    from xsd.models.tokenizer import target_tokenizer, target_vocab_size
    from xsd.models.videollava import build_target

    base = AutoTokenizer.from_pretrained(str(directory / "tokenizer"), local_files_only=True)
    if spec.name == "draft":
        model, tokenizer = build_draft(profile.models, len(base), profile.seed, base.unk_token_id), base
    else:
        tokenizer = target_tokenizer(base)
        model = build_target(profile.models, target_vocab_size(tokenizer), len(base), profile.seed + 1)
    load_tower_into(model, directory, spec)
    return model, tokenizer


def clip_conversations(profile: Profile, spec: SideSpec, directory: Path) -> tuple[list[str], list[list[tuple[str, str]]]]:
    """Train clips and pretraining scenes, and per clip its (question, answer in this side's style) pairs."""
    from xsd.world.dataset import WorldDataset

    dataset = WorldDataset(built_world(profile), "train")
    by_clip: dict[str, list] = {}
    for sample in dataset:
        by_clip.setdefault(f"{sample.seq}/{sample.clip}", []).append(
            (sample.question, getattr(sample, spec.answer_style)))
    scenes = json.loads((directory / f"{spec.name}_features" / "scene_conversations.json").read_text())
    by_clip.update({key: [tuple(turn) for turn in turns] for key, turns in scenes.items()})
    keys = sorted(by_clip)
    return keys, [by_clip[k] for k in keys]


def conversations_of_step(keys, qa, features, turns: int, batch: int, seed: int, step: int):
    """Step's batch: `batch` clips, each with `turns` of its questions in a random order."""
    gen = train.step_generator(seed, step)
    clips = torch.randperm(len(keys), generator=gen)[:batch].tolist()
    out = []
    for c in clips:
        order = torch.randperm(len(qa[c]), generator=gen)[:turns].tolist()
        out.append(train.Conversation(features[keys[c]].float(), [qa[c][i] for i in order]))
    return out


@staged("tune")
def tune_llm(profile, spec, directory, folder, log, stop):
    cfg = profile.models.train
    model, tokenizer = side_model(profile, spec, directory)
    train.freeze_for_tuning(model)
    features = torch.load(directory / f"{spec.name}_features" / "features.pt", weights_only=True)
    keys, qa = clip_conversations(profile, spec, directory)
    log(f"stage C: projector + LLM on {len(keys)} clips, {cfg.tune_turns} turns × {cfg.tune_batch} per step")

    def loss_of_step(step: int) -> torch.Tensor:
        batch = conversations_of_step(keys, qa, features, cfg.tune_turns, cfg.tune_batch, profile.seed, step)
        return train.conversation_loss(model, tokenizer, spec.name, batch)

    settings = train.LoopSettings(steps=cfg.tune_steps, lr=cfg.tune_lr, seed=profile.seed,
                                  log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every,
                                  warmup=max(1, cfg.tune_steps // 20), weight_decay=0.01)
    losses = train.run_steps(model, loss_of_step, settings, folder, log=log, stop_after=stop)
    if len(losses) < cfg.tune_steps:
        return None
    return {"steps": cfg.tune_steps, "answers_seen": cfg.tune_steps * cfg.tune_batch * cfg.tune_turns,
            "final_loss": float(np.mean(losses[-cfg.log_every:]))}


def save_side(profile: Profile, spec: SideSpec, directory: Path) -> Path:
    """The finished side as a Hugging Face folder (tower from A, projector + LLM from C)."""
    model, tokenizer = side_model(profile, spec, directory)
    state = torch.load(directory / f"{spec.name}_tune" / "state.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"], strict=False)

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return replace_folder(directory / spec.name, write)
