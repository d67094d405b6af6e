"""Every location the artifact reads or writes, in one place.

Defaults live inside the repository; each can be moved with an environment variable:

| variable        | default            | holds                                          |
|-----------------|--------------------|------------------------------------------------|
| XSD_DATA_ROOT   | data/              | worlds and imported datasets, one folder each  |
| XSD_MODELS      | data/models/       | trained mini/smoke models and adapters         |
| XSD_CACHE       | data/cache/        | intermediate results keyed by their config     |
| XSD_FIGURES     | book/figures/      | every figure a notebook writes, as files       |
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def _dir(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else default


def data_root() -> Path:
    return _dir("XSD_DATA_ROOT", REPO / "data")


def models_dir() -> Path:
    return _dir("XSD_MODELS", data_root() / "models")


def cache_dir() -> Path:
    return _dir("XSD_CACHE", data_root() / "cache")


def book_dir() -> Path:
    """Executed notebooks and generated pages; fixed, because `_toc.yml` points into it."""
    return REPO / "book"


def figures_dir() -> Path:
    return _dir("XSD_FIGURES", book_dir() / "figures")


def world_dir(profile: str) -> Path:
    """Where the world (or imported dataset) of a profile lives."""
    return data_root() / "worlds" / profile


def runs_dir(profile: str) -> Path:
    """Per-notebook run records (parameters, wall time) for the reproducibility page."""
    return cache_dir() / "runs" / profile


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
