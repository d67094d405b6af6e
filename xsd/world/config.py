"""Settings of the mini world (the `world:` section of a profile)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorldConfig:
    n_sequences: int          # driving sequences (one mp4 and one scene each)
    clips_per_sequence: int   # 1 s clips cut from each sequence with 50% overlap
    width: int                # frame size in pixels (events, event frames and video)
    height: int
    video_fps: int            # RGB video frame rate
    render_fps: int           # rate the scene is rendered at for the event simulator (multiple of video_fps)
    test_fraction: float      # share of sequences (scenes) held out for the test split
    contrast_threshold: float = 0.2    # ESIM contrast threshold C on log intensity
    threshold_mismatch: float = 0.03   # std of per-pixel threshold mismatch, relative to C (v2e)
    refractory_us: int = 1000          # a pixel emits nothing this long after its last event
    shot_noise_hz: float = 0.05        # shot noise per pixel by day; divided by the light level
    leak_noise_hz: float = 0.02        # leak (ON) noise per pixel
    ego_motion_probability: float = 0.3
    stopped_probability: float = 0.15  # share of agents that stand still (invisible to events)
