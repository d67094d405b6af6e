"""Stages B and C of the mini trainer: the frozen tower's features cached once (B), then projector +
LLM instruction-tuned on them in the side's own answer style (C), and the finished side saved as a
Hugging Face folder (see xsd.models.mini_training).

Between them, with `align_steps`, the alignment stage (LLaVA's stage 1): the projector alone
learns, under the frozen shared base LLM, to make that LLM caption the clip (the scene described
as the base LLM read it in its text, `xsd.world.texts.describe`, from the side's own view) and
answer its questions from the visual tokens. The base LLM already knows how the answers follow
from a description; this stage makes the visual tokens stand in for one before the LLM itself
is tuned."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from xsd.cache import replace_folder, torch_save_atomic, write_json_atomic
from xsd.config import SIDES, Profile
from xsd.models import mini_distill, train
from xsd.models.config import per_side
from xsd.models.mini_sides import SideSpec, staged
from xsd.models.mini_tower import clip_frames, new_tower, side_image_size
from xsd.models.registry import built_world


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
    size = side_image_size(profile, spec)
    features = {}
    for frames, sample in clip_frames(dataset, spec):
        features[f"{sample.seq}/{sample.clip}"] = tower.features(clip_pixels(frames, size)).half()
    conversations, captions = {}, {}
    for key, frames, turns, caption in scene_conversations(profile, spec):
        features[key] = tower.features(clip_pixels(frames, size)).half()
        conversations[key], captions[key] = turns, caption
    torch_save_atomic(features, folder / "features.pt")
    write_json_atomic(folder / "scene_conversations.json", conversations)
    write_json_atomic(folder / "scene_captions.json", captions)
    log(f"stage B: cached features of {len(features)} clips ({len(conversations)} of them pretraining scenes)")
    return {"clips": len(features), "scenes": len(conversations)}


def scene_conversations(profile: Profile, spec: SideSpec):
    """(key, frames the VLM reads, [(question, answer)], caption) of the side's stage-C pretraining scenes."""
    from xsd.world.pretraining import pretraining_clip
    from xsd.world.qa import view_questions
    from xsd.world.video import TARGET_FRAMES

    models = profile.models
    for index in range(per_side(models.train.tune_scenes, spec.name)):
        clip = pretraining_clip(profile.world, profile.seed, index, spec.modality,
                                event_slices=models.event_frames, video_frames=range(TARGET_FRAMES))
        rng = np.random.default_rng([profile.seed, index, SIDES.index(spec.name)])
        turns = [(q["question"], q["answer"]) for q in view_questions(clip["truth"], spec.view, rng)]
        yield f"pretraining/{index}", clip["frames"], turns, caption(clip["truth"], spec)


def caption(truth: dict, spec: SideSpec) -> str:
    """What the side's sensor sees in a clip, in the words the base LLM read descriptions in."""
    from xsd.world.qa import view
    from xsd.world.texts import describe

    return describe(view(truth, spec.view))


# -- stage C: projector + LLM instruction tuning ----------------------------------------------------

def side_model(profile: Profile, spec: SideSpec, directory: Path, aligned: bool = True):
    """A fresh VLM of this side with the pretrained tower in it, its LLM from the shared base
    LLM (random without one) and, when `aligned` and the profile aligns, the projector of the
    alignment stage; and its tokenizer."""
    from transformers import AutoTokenizer

    from xsd.models import mini_base
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
    if mini_base.enabled(profile):
        mini_base.load_base_llm(model, mini_base.base_weights(directory))
    if aligned and profile.models.train.align_steps:
        model.load_state_dict(aligned_projector(directory, spec), strict=False)
    return model, tokenizer


def clip_texts(profile: Profile, spec: SideSpec, directory: Path):
    """(keys, per clip its (question, answer) pairs, per clip its caption) of the train clips
    and pretraining scenes, sorted by key."""
    from xsd.world.dataset import WorldDataset

    dataset = WorldDataset(built_world(profile), "train")
    by_clip: dict[str, list] = {}
    captions: dict[str, str] = {}
    for sample in dataset:
        key = f"{sample.seq}/{sample.clip}"
        by_clip.setdefault(key, []).append((sample.question, getattr(sample, spec.answer_style)))
        captions.setdefault(key, caption(sample.truth, spec))
    folder = directory / f"{spec.name}_features"
    scenes = json.loads((folder / "scene_conversations.json").read_text())
    by_clip.update({key: [tuple(turn) for turn in turns] for key, turns in scenes.items()})
    if scenes:
        captions.update(json.loads((folder / "scene_captions.json").read_text()))
    keys = sorted(by_clip)
    return keys, [by_clip[k] for k in keys], [captions[k] for k in keys]


def conversations_of_step(keys, qa, features, turns: int, batch: int, seed: int, step: int, captions=None,
                          resample=None):
    """Step's batch: `batch` clips, each with `turns` of its questions in a random order (and
    its caption, when captions are given); `resample(key, turn, generator)`, when given, may
    replace a turn's (question, answer)."""
    gen = train.step_generator(seed, step)
    clips = torch.randperm(len(keys), generator=gen)[:batch].tolist()
    out = []
    for c in clips:
        order = torch.randperm(len(qa[c]), generator=gen)[:turns].tolist()
        chosen = [qa[c][i] for i in order]
        if resample is not None:
            chosen = [resample(keys[c], i, gen) or turn for i, turn in zip(order, chosen)]
        out.append(train.Conversation(features[keys[c]].float(), chosen,
                                      captions[c] if captions is not None else None))
    return out


def still(conversation: train.Conversation, frames: int = 1) -> train.Conversation:
    """The conversation with its clip shown as a still: its first frame, or with `frames=2` its
    first and last, the two frames from which stage A taught the video tower each road user's
    motion. Tuned on all 8 frames from its first step, the mini target learns to answer from the
    clip and not the question; tuned on stills first, it learns to read the question and keeps
    reading it once the frames are added (measurements in xsd/profiles/mini.yaml and
    mini-long.yaml; see xsd.studies.question_following)."""
    last = conversation.features.shape[0] - 1
    shown = [0, last] if frames == 2 and last > 0 else [0]
    return dataclasses.replace(conversation, features=conversation.features[shown])


def frames_per_clip(features: dict[str, torch.Tensor]) -> int:
    return max(f.shape[0] for f in features.values())


def class_resampler(profile: Profile, spec: SideSpec):
    """`resample(key, turn, generator)` for `conversations_of_step`: a world clip's class question
    asked about a class drawn uniformly (and one of its phrasings), answered from the side's
    view; None for other turns and for pretraining scenes. The world asks about a class the clip
    shows 70% of the time, so without this a model can name the class in view and be right
    mostly, whatever the question says (see xsd.studies.question_following)."""
    from xsd.world.dataset import WorldDataset
    from xsd.world.qa import CLASS_QTYPES, QUESTIONS, ask_about
    from xsd.world.scene import CLASSES

    by_clip: dict[str, list] = {}
    for sample in WorldDataset(built_world(profile), "train"):
        by_clip.setdefault(f"{sample.seq}/{sample.clip}", []).append((sample.qtype, sample.truth))

    def resample(key: str, turn: int, gen: torch.Generator):
        if key not in by_clip or by_clip[key][turn][0] not in CLASS_QTYPES:
            return None
        qtype, truth = by_clip[key][turn]
        cls = CLASSES[int(torch.randint(len(CLASSES), (1,), generator=gen))]
        template = int(torch.randint(len(QUESTIONS[qtype]), (1,), generator=gen))
        rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen)))
        return ask_about(qtype, cls, truth, spec.view, rng, template)

    return resample


# -- between B and C: the projector aligned under the frozen base LLM -------------------------------

def aligned_projector(directory: Path, spec: SideSpec) -> dict[str, torch.Tensor]:
    folder = Path(directory) / f"{spec.name}_align"
    if not (folder / "done.json").is_file():
        raise FileNotFoundError(f"{folder}: the alignment stage has not finished")
    return torch.load(folder / "state.pt", map_location="cpu", weights_only=True)["model"]


@staged("align")
def align_projector(profile, spec, directory, folder, log, stop):
    cfg = profile.models.train
    model, tokenizer = side_model(profile, spec, directory, aligned=False)
    for name, param in model.named_parameters():
        param.requires_grad = "multi_modal_projector" in name
    log(f"alignment: the projector alone under the frozen base LLM, caption + {cfg.tune_turns} turns "
        f"× {cfg.tune_batch} per step")
    losses = train_on_clips(profile, spec, directory, model, tokenizer, folder, log, stop, steps=cfg.align_steps,
                            lr=cfg.align_lr, weight_decay=0.0, captions=True)
    if losses is None:
        return None
    return {"steps": cfg.align_steps, "final_loss": float(np.mean(losses[-cfg.log_every:]))}


@staged("tune")
def tune_llm(profile, spec, directory, folder, log, stop):
    cfg = profile.models.train
    model, tokenizer = side_model(profile, spec, directory)
    train.freeze_for_tuning(model)
    log(f"stage C: projector + LLM, {cfg.tune_turns} turns × {cfg.tune_batch} per step")
    losses = train_on_clips(profile, spec, directory, model, tokenizer, folder, log, stop, steps=cfg.tune_steps,
                            lr=cfg.tune_lr, weight_decay=0.01, still_steps=cfg.still_steps,
                            still_frames=cfg.still_frames, distill=per_side(cfg.distill_weight, spec.name))
    if losses is None:
        return None
    return {"steps": cfg.tune_steps, "still_steps": cfg.still_steps, "still_frames": cfg.still_frames,
            "answers_seen": cfg.tune_steps * cfg.tune_batch * cfg.tune_turns, "final_loss": float(np.mean(losses[-cfg.log_every:]))}


def train_on_clips(profile, spec, directory, model, tokenizer, folder, log, stop, *, steps: int, lr: float,
                   weight_decay: float, captions: bool = False, still_steps: int = 0,
                   still_frames: int = 1, distill: float = 0.0) -> list[float] | None:
    """The losses of `steps` steps of the model's trainable parameters on the cached features of
    the train clips and pretraining scenes, `tune_batch` clips a step, each with `tune_turns` of
    its questions (and its caption first, with `captions`), the first `still_steps` steps with
    every clip as a still of `still_frames` frames (`still`), and with `distill` > 0 the
    distillation term of xsd.models.mini_distill; None when `stop` ended it early. The alignment stage draws its own
    batches (seed + 7), not stage C's."""
    cfg = profile.models.train
    features = torch.load(directory / f"{spec.name}_features" / "features.pt", weights_only=True)
    keys, qa, texts = clip_texts(profile, spec, directory)
    seed = profile.seed + (7 if captions else 0)
    resample = class_resampler(profile, spec) if cfg.resample_classes else None
    stills = still_steps if frames_per_clip(features) > 1 else 0  # a one-frame side is always still
    teacher = mini_distill.SceneTeacher(profile, directory, spec.view) if distill else None
    log(f"on {len(keys)} clips" + (", class questions about a class drawn at every step" if resample else "")
        + (f", the first {stills} steps on stills of {still_frames} frame{'s' * (still_frames > 1)}" if stills else "")
        + (f", hidden states distilled from the base LLM reading the scene (weight {distill})" if teacher else ""))

    def loss_of_step(step: int) -> torch.Tensor:
        batch = conversations_of_step(keys, qa, features, cfg.tune_turns, cfg.tune_batch, seed, step,
                                      texts if captions or teacher else None, resample)
        if step < stills:
            batch = [still(conversation, still_frames) for conversation in batch]
        if teacher is None:
            return train.conversation_loss(model, tokenizer, spec.name, batch)
        descriptions = [conversation.caption for conversation in batch]
        batch = [dataclasses.replace(conversation, caption=None) for conversation in batch]
        return mini_distill.distilled_loss(model, tokenizer, spec.name, batch, descriptions, teacher, distill)

    settings = train.LoopSettings(steps=steps, lr=lr, seed=profile.seed, log_every=cfg.log_every,
                                  checkpoint_every=cfg.checkpoint_every, warmup=max(1, steps // 20),
                                  weight_decay=weight_decay, precision=cfg.precision)
    losses = train.run_steps(model, loss_of_step, settings, folder, log=log, stop_after=stop)
    return losses if len(losses) >= steps else None


def save_side(profile: Profile, spec: SideSpec, directory: Path) -> Path:
    """The finished side as a Hugging Face folder (tower from A, projector + LLM from C)."""
    model, tokenizer = side_model(profile, spec, directory)
    state = torch.load(directory / f"{spec.name}_tune" / "state.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"], strict=False)

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return replace_folder(directory / spec.name, write)
