"""Profiles: one code path, three sizes (`mini`, `smoke`, `full`).

A profile is a YAML file in `xsd/profiles/` (or any path given instead of a name) read into
typed, frozen dataclasses. Each part of the pipeline owns the dataclass of its own section
(`xsd.world.config.WorldConfig`, ...); this module only composes them and checks the file:
unknown keys, missing keys and wrongly typed values are errors that name the file and the key.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from xsd.models.config import ModelsConfig
from xsd.world.config import WorldConfig

PROFILES_DIR = Path(__file__).parent / "profiles"


class ProfileError(ValueError):
    """A profile name that does not exist, or a profile file that is malformed."""


@dataclass(frozen=True)
class ExtractConfig:
    """Hidden-state extraction (DESIGN.md §3.1)."""
    max_new_tokens: int = 50      # N; the study used 50
    train_samples: int = 0        # a seeded subset of the train split (0: all of it)
    test_samples: int = 0
    batch_size: int = 16
    shard_size: int = 256
    threads: int = 2


@dataclass(frozen=True)
class AdaptersConfig:
    """Adapter training (DESIGN.md §3.2) and the sizes each adapter is built with."""
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    max_epochs: int = 50
    patience: int = 10            # early stopping on validation loss
    next_weight: float = 0.7      # w of the dual objective (1 − w)·align + w·predict
    cos_weight: float = 0.5       # loss = MSE + cos_weight · (1 − cos)
    threads: int = 2
    sizes: dict = field(default_factory=dict)  # per adapter: {L1: {bottleneck: 16}, L4: {heads: 4}, ...}


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


def load_profile(name_or_path: str | Path = "mini") -> Profile:
    path = profile_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ProfileError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping of settings, found {type(data).__name__}")
    data = {**data, "source": str(path)}
    return _build(Profile, data, where=str(path))


def fingerprint(obj) -> str:
    """A short stable hash of a config (dataclass, dict, list...) for keying caches."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


# -- strict construction of dataclasses from YAML -------------------------------------------------

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
    return cls(**values)


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
        raise ProfileError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {options}")
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
        return dict(value)
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
