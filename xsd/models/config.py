"""Settings of the two VLMs (the `models:` section of a profile)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelsConfig:
    image_size: int  # side of the square frames both vision towers read
