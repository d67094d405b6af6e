"""Profiles: one code path, three sizes (`mini`, `smoke`, `full`).

A profile is a YAML file in `xsd/profiles/` (or any path given instead of a name) read into
typed, frozen dataclasses. Each part of the pipeline owns the dataclass of its own section
(`xsd.world.config.WorldConfig`, ...); this module only composes them and checks the file:
unknown keys, missing keys, wrongly typed values and values out of range are errors that name
the file and the key. A section's ranges are its class's `LIMITS` ({key: xsd.arguments.Limit})
and its `problems()` (settings that do not fit together); the models' sections are checked from
`MODELS_LIMITS` here. `adapters.sizes` may only name adapters, and each adapter's sizes only the
keyword arguments its constructor takes (`xsd.adapters.create_adapter`).

One module, a little over 300 lines: the profile's sections, their limits and the loader that
checks them are one schema, read together.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import inspect
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

from xsd.arguments import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, Limit
from xsd.models.config import PRECISIONS, LLMConfig, ModelsConfig, RandomWeightsConfig, TowerConfig, TrainConfig
from xsd.world.config import WorldConfig

PROFILES_DIR = Path(__file__).parent / "profiles"


class ProfileError(ValueError):
    """A profile name that does not exist, or a profile file that is malformed."""


@dataclass(frozen=True)
class ExtractConfig:
    """Hidden-state extraction (methods §1)."""
    max_new_tokens: int = 50      # N; the study used 50
    train_samples: int = 0        # a seeded subset of the train split (0: all of it)
    test_samples: int = 0
    batch_size: int = 16
    shard_size: int = 256
    threads: int = 2              # CPU threads in all; on a CPU, as many one-thread shard processes

    LIMITS: ClassVar[dict] = {
        "max_new_tokens": AT_LEAST_ONE, "train_samples": NON_NEGATIVE, "test_samples": NON_NEGATIVE,
        "batch_size": AT_LEAST_ONE, "shard_size": AT_LEAST_ONE, "threads": AT_LEAST_ONE,
    }


@dataclass(frozen=True)
class AdaptersConfig:
    """Adapter training (methods §2) and the sizes each adapter is built with."""
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    max_epochs: int = 50
    patience: int = 10            # early stopping on validation loss
    next_weight: float = 0.7      # w of the dual objective (1 − w)·align + w·predict
    cos_weight: float = 0.5       # loss = MSE + cos_weight · (1 − cos)
    threads: int = 2              # CPU threads in all: as many one-thread processes, an adapter each
    sizes: dict = field(default_factory=dict)  # per adapter: {L1: {bottleneck: 16}, L4: {heads: 4}, ...}

    LIMITS: ClassVar[dict] = {
        "lr": POSITIVE, "weight_decay": NON_NEGATIVE, "batch_size": AT_LEAST_ONE, "max_epochs": AT_LEAST_ONE,
        "patience": AT_LEAST_ONE, "next_weight": FRACTION, "cos_weight": NON_NEGATIVE, "threads": AT_LEAST_ONE,
    }

    def problems(self) -> list[tuple[str, str]]:
        return adapter_sizes_problems(self.sizes)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    seed: int
    world: WorldConfig | None = None
    models: ModelsConfig | None = None
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    adapters: AdaptersConfig = field(default_factory=AdaptersConfig)
    source: str = ""  # the file this profile was read from (filled in by the loader)


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def profile_path(name_or_path: str | Path) -> Path:
    """The YAML file of a profile given by name (`mini`) or by path (`my.yaml`)."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"}:
        if not candidate.is_file():
            raise ProfileError(f"profile file {candidate} does not exist")
        return candidate
    path = PROFILES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ProfileError(
            f"unknown profile {str(name_or_path)!r}; available: {', '.join(available_profiles())} "
            f"(or give the path of a .yaml profile file)"
        )
    return path


# The models' sections (xsd.models.config) have no LIMITS of their own; their ranges are here.
_STEPS = ("tower_steps", "tower_batch", "tune_steps", "tune_batch", "tune_turns", "position_bins", "threads",
          "log_every", "checkpoint_every", "base_batch")
TEXT_SCENES = Limit(1, 10**7)  # xsd.world.texts.MAX_TEXT_SCENES: text scenes stay clear of other seeds
MODELS_LIMITS = {
    ModelsConfig: {"image_size": AT_LEAST_ONE, "video_frames": AT_LEAST_ONE, "event_frames": AT_LEAST_ONE,
                   "vocab_size": NON_NEGATIVE},
    TowerConfig: {**dict.fromkeys(("hidden_size", "num_layers", "num_heads", "intermediate_size", "patch_size"),
                                  AT_LEAST_ONE), "image_size": NON_NEGATIVE},
    LLMConfig: dict.fromkeys(("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_positions"),
                             AT_LEAST_ONE),
    TrainConfig: {**dict.fromkeys(_STEPS, AT_LEAST_ONE), "tower_lr": POSITIVE, "tune_lr": POSITIVE,
                  "pretrain_scenes": NON_NEGATIVE, "tune_scenes": NON_NEGATIVE,
                  "base_steps": NON_NEGATIVE, "base_lr": POSITIVE, "base_scenes": TEXT_SCENES,
                  "align_steps": NON_NEGATIVE, "align_lr": POSITIVE, "still_steps": NON_NEGATIVE,
                  "distill_weight": NON_NEGATIVE},
    RandomWeightsConfig: {"prompt_tokens": NON_NEGATIVE},
}
SIDES = ("draft", "target")
STILL_FRAMES = (1, 2)


def _models_problems(section) -> list[tuple[str, str]]:
    problems = []
    if isinstance(section, ModelsConfig) and section.event_frames not in (1, 5):
        problems.append(("event_frames", f"must be 1 (slice 0) or 5 (every slice), found {section.event_frames}"))
    if isinstance(section, (TowerConfig, LLMConfig)) and section.hidden_size % section.num_heads:
        problems.append(("num_heads", f"must divide hidden_size {section.hidden_size}, found {section.num_heads}"))
    if isinstance(section, TrainConfig):
        for key in ("tower_steps", "pretrain_scenes", "tune_scenes", "distill_weight"):
            value = getattr(section, key)
            if isinstance(value, dict) and sorted(value) != sorted(SIDES):
                problems.append((key, f"per side needs exactly the keys {list(SIDES)}, found {sorted(value)}"))
        if section.align_steps and not section.base_steps:
            problems.append(("align_steps", "the alignment stage trains the projector under the frozen base LLM, "
                                            "so it needs base_steps > 0"))
        distills = section.distill_weight.values() if isinstance(section.distill_weight, dict) else [section.distill_weight]
        if any(distills) and not section.base_steps:
            problems.append(("distill_weight", "stage C distils from the base LLM reading the scene in words, "
                                               "so it needs base_steps > 0"))
        if section.precision not in PRECISIONS:
            problems.append(("precision", f"must be one of {list(PRECISIONS)}, found {section.precision!r}"))
        if section.still_frames not in STILL_FRAMES:
            problems.append(("still_frames", f"must be 1 (the first frame) or 2 (the first and the last), "
                                             f"found {section.still_frames}"))
        if section.still_steps > section.tune_steps:
            problems.append(("still_steps", f"must not exceed tune_steps ({section.tune_steps}), "
                                            f"found {section.still_steps}"))
    if isinstance(section, RandomWeightsConfig) and set(section.prompt_tokens) - set(SIDES):
        problems.append(("prompt_tokens", f"keys must be among {list(SIDES)}, found {sorted(section.prompt_tokens)}"))
    return problems


def adapter_sizes_problems(sizes: dict) -> list[tuple[str, str]]:
    """(key, why) for `adapters.sizes` entries that name no adapter, or sizes its constructor does not take."""
    if not sizes:
        return []
    from xsd.adapters import ADAPTERS

    problems = []
    for name, given in sizes.items():
        if name not in ADAPTERS:
            problems.append(("sizes", f"unknown adapter {name!r}; allowed: {list(ADAPTERS)}"))
            continue
        if not isinstance(given, dict):
            problems.append((f"sizes: {name}", f"expected a mapping of sizes, found {given!r}"))
            continue
        accepted = adapter_size_parameters(name)
        unknown = sorted(set(given) - set(accepted))
        if unknown:
            problems.append((f"sizes: {name}", f"unknown key(s) {unknown}; allowed: {sorted(accepted)}"))
            continue
        for key, value in given.items():
            try:
                value = _coerce(accepted[key], value, "")
            except ProfileError as error:
                problems.append((f"sizes: {name}: {key}", str(error).removeprefix(": ")))
                continue
            if isinstance(value, int) and not isinstance(value, bool) and not AT_LEAST_ONE.allows(value):
                problems.append((f"sizes: {name}: {key}", f"must be {AT_LEAST_ONE}, found {value}"))
    return problems


def adapter_size_parameters(name: str) -> dict:
    """The keyword arguments (name → type) adapter `name`'s constructor takes besides hidden_size,
    following `**sizes` up to the base class that takes them."""
    import xsd.adapters

    accepted = {}
    for klass in getattr(xsd.adapters, name).__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        hints = typing.get_type_hints(init)
        forwards = False
        for parameter in inspect.signature(init).parameters.values():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                forwards = True
            elif parameter.name not in ("self", "hidden_size") and parameter.kind in (
                    inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
                accepted.setdefault(parameter.name, hints.get(parameter.name, typing.Any))
        if not forwards:
            break
    return accepted


def _profile_problems(profile: "Profile") -> list[tuple[str, str]]:
    """Settings of different sections that do not fit together."""
    problems = []
    llm = profile.models.llm if profile.models is not None else None
    if llm is not None:
        for name, given in profile.adapters.sizes.items():
            heads = given.get("heads") if isinstance(given, dict) else None
            if isinstance(heads, int) and heads > 0 and llm.hidden_size % heads:
                problems.append((f"adapters: sizes: {name}: heads",
                                 f"must divide the LLM's hidden_size {llm.hidden_size}, found {heads}"))
    return problems


def load_profile(name_or_path: str | Path = "mini") -> Profile:
    """A profile by name (`mini`) or path (`my.yaml`); a file with `extends: <profile>` holds only
    what it changes in that profile (mappings merge key by key, anything else replaces)."""
    path = profile_path(name_or_path)
    data = {**_profile_settings(path, ()), "source": str(path)}
    profile = _build(Profile, data, where=str(path))
    for key, problem in _profile_problems(profile):
        raise ProfileError(f"{path}: {key}: {problem}")
    return profile


def _profile_settings(path: Path, extended_by: tuple[Path, ...]) -> dict:
    """The settings a profile file holds, with those of the profile it `extends` beneath them."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ProfileError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping of settings, found {type(data).__name__}")
    if "extends" not in data:
        return data
    base = data.pop("extends")
    if not isinstance(base, str) or not base:
        raise ProfileError(f"{path}: extends: must name a profile or a .yaml file, found {base!r}")
    if "name" not in data:
        raise ProfileError(f"{path}: a profile that extends {base!r} needs a name of its own "
                           "(its world, models and results are kept under its name)")
    base_path = profile_path(path.parent / base if base.endswith((".yaml", ".yml")) else base)
    chain = extended_by + (path,)
    if base_path.resolve() in {p.resolve() for p in chain}:
        raise ProfileError(f"{path}: extends: {base!r} extends this profile in turn "
                           f"({' -> '.join(str(p) for p in chain + (base_path,))})")
    return _merged(_profile_settings(base_path, chain), data)


def _merged(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        both_mappings = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = _merged(base[key], value) if both_mappings else value
    return out


def fingerprint(obj) -> str:
    """A short stable hash of a config (dataclass, dict, list...) for keying caches."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


# -- strict construction of dataclasses from YAML -------------------------------------------------

def _shape(kind) -> str:
    origin = typing.get_origin(kind) or kind
    if origin is dict or dataclasses.is_dataclass(kind):
        return "mapping"
    return "list" if origin in (list, tuple) else "scalar"


def _build(cls, data, where: str):
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: expected a mapping, found {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ProfileError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, spec in fields.items():
        if name in data:
            values[name] = _coerce(hints[name], data[name], f"{where}: {name}")
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ProfileError(f"{where}: missing key {name!r}")
    built = cls(**values)
    _check_ranges(built, where)
    return built


def _check_ranges(section, where: str) -> None:
    """Each setting in its range (the class's LIMITS, or MODELS_LIMITS), then the class's problems()."""
    limits = getattr(type(section), "LIMITS", None) or MODELS_LIMITS.get(type(section), {})
    for name, limit in limits.items():
        value = getattr(section, name)
        for key, item in (value.items() if isinstance(value, dict) else [(None, value)]):
            if item is not None and not limit.allows(item):
                at = f"{name}: {key}" if key is not None else name
                raise ProfileError(f"{where}: {at}: must be {limit}, found {item!r}")
    problems = section.problems() if hasattr(section, "problems") else _models_problems(section)
    for key, problem in problems:
        raise ProfileError(f"{where}: {key}: {problem}")


def _coerce(kind, value, where: str):
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _coerce(option, value, where)
            except ProfileError as error:
                errors.append(str(error))
        # a mapping given where a number or a mapping fits: what is wrong inside the mapping
        shaped = [e for option, e in zip(options, errors) if _shape(option) == _shape(type(value))]
        raise ProfileError(errors[0] if len(errors) == 1 else shaped[0] if len(shaped) == 1 else
                           f"{where}: {value!r} fits none of {options}")
    if origin is typing.Literal:
        if value not in args:
            raise ProfileError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ProfileError(f"{where}: expected a list, found {value!r}")
        item = args[0] if args else typing.Any
        items = [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if kind is dict or origin is dict:
        if not isinstance(value, dict):
            raise ProfileError(f"{where}: expected a mapping, found {value!r}")
        if not args:
            return dict(value)
        return {_coerce(args[0], k, f"{where}: {k}"): _coerce(args[1], v, f"{where}: {k}") for k, v in value.items()}
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, where)
    if kind is typing.Any:
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ProfileError(f"{where}: expected true/false, found {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(f"{where}: expected an integer, found {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProfileError(f"{where}: expected a number, found {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ProfileError(f"{where}: expected a string, found {value!r}")
        return value
    raise ProfileError(f"{where}: unsupported setting type {kind}")
