"""Extra scenes for pretraining the vision towers, rendered in memory by the world's own generator.

CLIP and LanguageBind were pretrained on far more images than their VLMs were tuned on; the
mini towers' stand-in for that is a larger corpus of fresh scenes from the same generator as
the world (`scene.sample_scene`, `render`, `rgb_camera`, the event simulator, `clip_truth`).
Nothing is written to disk and the world itself (its scenes, questions and splits) is untouched.

Disjointness: a world seeds sequence i from the streams [seed, i, k] with i < n_sequences, and
its test split from [seed, 10**6]. Pretraining scene j is sequence index PRETRAINING_OFFSET + j
with the same streams, an index no world reaches (`check_disjoint`), so no pretraining scene
is a train or test scene.

Each call gives one clip of a sequence (clip j mod clips_per_sequence, as the world cuts them):
  event: the first `event_slices` of its 5 equal-time event frames (the draft reads slice 0);
  rgb:   its 8 uniformly sampled video frames, passed through the video's yuv420p conversion
         (the mp4 is x264 at CRF 12, near-lossless, so the chroma subsampling is what matters).
"""
from __future__ import annotations

import numpy as np

from xsd.world import clips as C
from xsd.world import scene as S
from xsd.world.build import STREAMS, attribute_events, clip_truth, sensor_params
from xsd.world.config import WorldConfig
from xsd.world.events import simulate
from xsd.world.frames import event_frames
from xsd.world.layout import EVENT_DTYPE, N_SLICES
from xsd.world.render import luminance, render, rgb_camera
from xsd.world.video import TARGET_FRAMES, uniform_indices

PRETRAINING_OFFSET = 10**7
MODALITIES = ("event", "rgb")
# the event simulator starts this long before the clip (or at the sequence start), so pixel
# references have settled as in the world's continuous sequences without simulating all of it
EVENT_WARMUP_US = 250_000


def check_disjoint(cfg: WorldConfig) -> None:
    if cfg.n_sequences > PRETRAINING_OFFSET:
        raise ValueError(f"a world of {cfg.n_sequences} sequences would share seeds with the pretraining scenes")


def pretraining_clip(cfg: WorldConfig, seed: int, index: int, modality: str, event_slices: int = N_SLICES,
                     video_frames=range(TARGET_FRAMES)) -> dict:
    """Pretraining scene `index` (0, 1, ...): {"frames": uint8 [n, H, W, 3], "truth": clip truth}.

    event: the first `event_slices` event frames; the truth's per-slice event counts stop there.
    rgb: the sampled video frames numbered `video_frames` (of 8); the truth has no event fields."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, not {modality!r}")
    if not 1 <= event_slices <= N_SLICES:
        raise ValueError(f"event_slices must be 1..{N_SLICES}, not {event_slices}")
    check_disjoint(cfg)
    return sequence_clip(cfg, seed, PRETRAINING_OFFSET + index, index % cfg.clips_per_sequence, modality,
                         event_slices, video_frames)


def sequence_clip(cfg: WorldConfig, seed: int, sequence: int, clip: int, modality: str,
                  event_slices: int = N_SLICES, video_frames=range(TARGET_FRAMES)) -> dict:
    """Clip `clip` of sequence number `sequence`, generated as `build.build_sequence` does."""
    rng = {name: np.random.default_rng([seed, sequence, k]) for name, k in STREAMS.items()}
    scene = sequence_scene(cfg, seed, sequence)
    window = C.clip_windows(0, int(round(scene["duration"] * 1e6)))[clip]
    if modality == "event":
        return _event_clip(cfg, scene, window, rng["events"], event_slices)
    return _rgb_clip(cfg, scene, window, rng["camera"], list(video_frames))


def sequence_scene(cfg: WorldConfig, seed: int, sequence: int) -> dict:
    """The scene of sequence number `sequence` (a world sequence, or PRETRAINING_OFFSET + i for
    pretraining scene i), drawn as `build.build_sequence` draws it; nothing is rendered."""
    rng = np.random.default_rng([seed, sequence, STREAMS["scene"]])
    duration = (cfg.clips_per_sequence + 1) * C.STEP_US / 1e6
    return S.sample_scene(rng, cfg.width, cfg.height, duration, cfg.ego_motion_probability, cfg.stopped_probability)


def _event_clip(cfg: WorldConfig, scene: dict, window, rng, n_slices: int) -> dict:
    t0, t1 = window
    slice_us = (t1 - t0) // N_SLICES
    step_us = 1e6 / cfg.render_fps
    first = int(max(0, t0 - EVENT_WARMUP_US) // step_us)
    last = int(np.ceil((t0 + n_slices * slice_us) / step_us))
    times_us = np.round(np.arange(first, last + 1) * step_us).astype(np.int64)
    radiance, owner = render(scene, times_us / 1e6)
    events, is_noise = simulate(luminance(radiance), times_us, sensor_params(cfg, scene["lighting"]), rng)
    agent_of = attribute_events(events, is_noise, owner, times_us)
    lo, hi = np.searchsorted(events["t"], window, side="left")
    truth = clip_truth(scene, window, events[lo:hi], agent_of[lo:hi], is_noise[lo:hi], radiance, owner, times_us)
    for agent in truth["agents"]:
        agent["events_time"] = agent["events_time"][:n_slices]
        del agent["events_count"]          # equal-count slices need the whole clip's events
    frames = event_frames(events[lo:hi], window, cfg.width, cfg.height, N_SLICES, "time")[:n_slices]
    return {"frames": frames, "truth": truth}


def _rgb_clip(cfg: WorldConfig, scene: dict, window, rng, chosen: list[int]) -> dict:
    t0, t1 = window
    video_times_us = np.round(np.arange(int(round(scene["duration"] * cfg.video_fps))) * 1e6 / cfg.video_fps)
    first, stop = C.frame_range(video_times_us.astype(np.int64), window)
    sampled_us = video_times_us[first + uniform_indices(stop - first, TARGET_FRAMES)][chosen]
    times_us = np.append(sampled_us, (t0 + t1) / 2).astype(np.int64)  # + the middle, where truth measures contrast
    radiance, owner = render(scene, times_us / 1e6)
    frames = yuv420_round_trip(rgb_camera(radiance[:len(chosen)], scene["lighting"], rng))
    none = np.zeros(0, EVENT_DTYPE)
    truth = clip_truth(scene, window, none, np.zeros(0, np.int64), np.zeros(0, bool), radiance, owner, times_us)
    for key in ("n_events", "n_noise_events"):
        del truth[key]                     # no events were simulated for an RGB clip
    for agent in truth["agents"]:
        for key in ("events_time", "events_count", "event_visible"):
            del agent[key]
    return {"frames": frames, "truth": truth}


def yuv420_round_trip(frames: np.ndarray) -> np.ndarray:
    """RGB → yuv420p → RGB with the same conversion (swscale) the world's mp4 path uses."""
    import av

    out = []
    for frame in frames:
        yuv = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(format="yuv420p")
        out.append(yuv.to_ndarray(format="rgb24"))
    return np.stack(out)
