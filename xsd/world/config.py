"""Settings of the mini world (the `world:` section of a profile)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from xsd.arguments import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, OPEN_FRACTION, POSITIVE


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

    # the range of each setting, checked when a profile is read (xsd.config)
    LIMITS: ClassVar[dict] = {
        "n_sequences": AT_LEAST_ONE, "clips_per_sequence": AT_LEAST_ONE, "width": AT_LEAST_ONE,
        "height": AT_LEAST_ONE, "video_fps": AT_LEAST_ONE, "render_fps": AT_LEAST_ONE,
        "test_fraction": OPEN_FRACTION, "contrast_threshold": POSITIVE, "threshold_mismatch": NON_NEGATIVE,
        "refractory_us": NON_NEGATIVE, "shot_noise_hz": NON_NEGATIVE, "leak_noise_hz": NON_NEGATIVE,
        "ego_motion_probability": FRACTION, "stopped_probability": FRACTION,
    }

    def problems(self) -> list[tuple[str, str]]:
        """(key, why) for settings that are each in range but do not fit together."""
        problems = []
        if self.render_fps % self.video_fps:
            problems.append(("render_fps", f"must be a multiple of video_fps ({self.video_fps}), found {self.render_fps}"))
        n_test = int(round(self.n_sequences * self.test_fraction))  # as build.test_sequences splits
        if not 0 < n_test < self.n_sequences:
            problems.append(("test_fraction", f"{self.test_fraction} of {self.n_sequences} sequences leaves "
                                              f"{'no test' if n_test == 0 else 'no train'} sequence; "
                                              f"both splits need at least one"))
        return problems
