"""Settings of the mini world (the `world:` section of a profile)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorldConfig:
    n_sequences: int          # driving sequences (one mp4 each)
    clips_per_sequence: int   # 1 s clips cut from each sequence with 50% overlap
    width: int                # frame size in pixels
    height: int
    video_fps: int            # RGB video frame rate
    test_fraction: float      # share of sequences held out for the test split
