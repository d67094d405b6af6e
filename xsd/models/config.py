"""Settings of the two VLMs (the `models:` section of a profile).

mini and smoke describe tiny models this artifact builds and trains (`tower`, `llm`, `train`);
full describes the real 7B checkpoints on local disk (`pretrained`); shapes builds the full
architectures from `tower` and `llm` with random weights (`random_weights`). Both LLM backbones share one
`llm` section, so they have equal size by construction, as the study's two Vicuna-7B backbones do.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class TowerConfig:
    """A CLIP vision tower."""
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    patch_size: int
    # side of the square input this tower reads (0: the models' image_size); frames are resized to
    # it, as CLIP resizes to 224, so a larger size gives the tower more tokens per frame
    image_size: int = 0

    def __repr__(self) -> str:
        """Without image_size while unset: the repr keys the trained models' cache, and a profile
        that leaves it out keeps the checkpoint it had before the setting existed."""
        shown = [f for f in fields(self) if f.name != "image_size" or self.image_size]
        return f"{type(self).__qualname__}({', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in shown)})"


def tower_image_size(models: "ModelsConfig", tower: TowerConfig) -> int:
    """The input side of one of the models' towers."""
    return tower.image_size or models.image_size


@dataclass(frozen=True)
class LLMConfig:
    """A Llama (Vicuna-architecture) language backbone."""
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int


BASE_SETTINGS = ("base_steps", "base_batch", "base_lr", "base_scenes")
ALIGN_SETTINGS = ("align_steps", "align_lr")
# an optional stage's settings, shown in the repr only while the stage runs (its steps > 0)
OPTIONAL_STAGES = {"base_steps": BASE_SETTINGS, "align_steps": ALIGN_SETTINGS}
PRECISIONS = ("float32", "bfloat16")  # of a training step
HIDDEN_AT_DEFAULT = ("resample_classes", "still_steps", "still_frames", "precision", "patch_heads",
                     "place_heads", "base_lookups", "base_absences", "distill_weight")  # in the repr only when changed


@dataclass(frozen=True)
class TrainConfig:
    """The recipe: (A) each tower on dense scene attributes, (B) its features cached, (C)
    projector + LLM on those features, loss on answer tokens only; with `base_steps`, both
    LLMs start from one base LLM trained on scene text first (xsd.models.mini_base); with
    `align_steps`, each side's projector first learns alone to make that frozen base LLM caption
    and answer from the visual tokens (xsd.models.mini_align)."""
    tower_steps: int | dict[str, int]   # stage A steps: one number, or per side {draft: n, target: n}
    tower_batch: int
    tower_lr: float
    tune_steps: int
    tune_batch: int
    tune_lr: float
    tune_turns: int = 1        # question/answer turns per stage-C conversation (one clip, loss on every answer)
    pretrain_scenes: int | dict[str, int] = 0  # extra stage-A scenes from the world's generator
                                               # (xsd.world.pretraining); one number or per side
    tune_scenes: int | dict[str, int] = 0      # of those scenes, how many stage C also tunes on, with
                                               # questions answered from the side's own view
    position_bins: int = 6     # stage A classifies each lane's x into bins (multiples of 1/6 hold 1/3 and 2/3)
    threads: int = 1
    log_every: int = 50
    checkpoint_every: int = 200
    base_steps: int = 0        # steps of the shared base LLM on scene text (0: none, each LLM starts random)
    base_batch: int = 8        # conversations per step (one scene's description + its questions, one style)
    base_lr: float = 0.001
    base_scenes: int = 2000    # text scenes from the world's generator (xsd.world.texts), two conversations each
    base_lookups: bool = False  # each text conversation also asks every road user's colour, place or motion by its class
    base_absences: bool = False  # each text conversation also asks one class question about every class its view lacks
    align_steps: int = 0       # steps of the projector alone, base LLM frozen, before stage C (needs base_steps)
    align_lr: float = 0.002
    # stage C asks each class question of a world clip about a class drawn uniformly at every
    # step, answered from the side's view (xsd.world.qa.ask_about), not only the class the world asked
    resample_classes: bool = False
    # the first still_steps steps of stage C show each clip as a still (still_frames), as
    # Video-LLaVA learns from images beside its videos; the rest show every frame the side reads
    still_steps: int = 0
    # how many frames a still step shows: 1, the first; 2, the first and the last, the pair from
    # which stage A taught the video tower each road user's motion, so that motion words are
    # learnt with what shows them from the first step (xsd.models.mini_tuning.still)
    still_frames: int = 1
    # "bfloat16": every training step's forward under bf16 autocast (weights and optimizer stay fp32);
    # only worth it on hardware with bf16 instructions (xsd.device.native_bf16): elsewhere a step
    # runs several times slower than in float32 (see xsd/profiles/mini.yaml)
    precision: str = "float32"
    # stage A also teaches every patch token of a tower what its patch shows (the classes and the
    # colours or motions of the agents there, xsd.world.targets.patch_targets), through one head
    # shared by all tokens: a read that an LLM's attention can make of the token
    patch_heads: bool = False
    # stage A also teaches every patch token where its patch lies (its column and row of the grid),
    # through one head shared by all tokens: the LLM's rotary positions reach its attention scores
    # but not the values it reads, so a token's place in the frame reaches an answer only if the
    # token's content holds it
    place_heads: bool = False
    # stage C also pulls the LLM's hidden states on every question and answer token towards those
    # of the frozen base LLM reading the clip's scene in words (xsd.models.mini_distill), weighted
    # by this (0: off); one number or per side {draft: w, target: w}; needs base_steps
    distill_weight: float | dict[str, float] = 0.0

    def __repr__(self) -> str:
        """The dataclass's own repr, without an optional stage's settings while that stage does not
        run: the repr keys the trained models' cache (xsd.locations.Locations.checkpoint), so a
        profile without it keeps the checkpoint it had before these settings existed."""
        hidden = {name for steps, names in OPTIONAL_STAGES.items() if not getattr(self, steps) for name in names}
        defaults = {f.name: f.default for f in fields(self)}
        hidden |= {name for name in HIDDEN_AT_DEFAULT if getattr(self, name) == defaults[name]}
        shown = [f for f in fields(self) if f.name not in hidden]
        return f"{type(self).__qualname__}({', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in shown)})"


def per_side(value: int | float | dict, side: str) -> int | float:
    """A setting given once for both sides or as {draft: n, target: n}."""
    return value[side] if isinstance(value, dict) else value


@dataclass(frozen=True)
class PretrainedConfig:
    """Real checkpoints on local disk (full profile). Relative paths are under XSD_MODELS;
    XSD_EVENTGPT_PATH / XSD_VIDEOLLAVA_PATH override them."""
    eventgpt_path: str     # EventGPT converted to Llava layout (`xsd models convert-eventgpt`)
    videollava_path: str   # a local copy of LanguageBind/Video-LLaVA-7B-hf
    load_in_4bit: bool = True
    compute_dtype: str = "float16"


@dataclass(frozen=True)
class RandomWeightsConfig:
    """The full profile's architectures with random weights (the `shapes` profile): everything a
    cost depends on (layer shapes, visual token counts, prompt lengths, dtype) without the
    weights. Acceptance is meaningless with random weights; only costs are measured."""
    dtype: str = "bfloat16"
    # each side's prompt padded with text tokens to this many tokens (0: the checkpoints' own
    # count); the study's fork logged 4643 (Video-LLaVA) and 636 (EventGPT)
    prompt_tokens: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelsConfig:
    image_size: int          # side of the square frames both vision towers read
    video_frames: int = 8    # frames the target reads
    event_frames: int = 1    # event frames the draft reads (EventGPT pools over them)
    vocab_size: int = 0      # BPE vocabulary of the mini tokenizer (0: taken from the checkpoints)
    draft_tower: TowerConfig | None = None
    target_tower: TowerConfig | None = None
    llm: LLMConfig | None = None
    train: TrainConfig | None = None
    pretrained: PretrainedConfig | None = None
    # Left out of the repr, which keys the trained models' caches (see xsd.locations.Locations.checkpoint):
    # where the models run changes nothing they compute, and mini/smoke have no random weights.
    random_weights: RandomWeightsConfig | None = field(default=None, repr=False)
    device: str = field(default="auto", repr=False)  # auto: CUDA when present for full and shapes, else the CPU

    @property
    def trained_here(self) -> bool:
        """mini/smoke: tiny models built and trained by the artifact (full: real checkpoints;
        shapes: the full architectures with random weights)."""
        return self.pretrained is None and self.random_weights is None

