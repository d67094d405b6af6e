"""Event camera simulator in the style of ESIM, with v2e's non-idealities.

ESIM (Rebecq, Gehrig, Scaramuzza, "ESIM: an Open Event Camera Simulator", CoRL 2018):
every pixel keeps a reference log intensity; whenever the log intensity, linearly
interpolated between two rendered frames, crosses the reference by the contrast threshold
C, the pixel emits one event of that sign, timestamped at the interpolated crossing time,
and the reference moves by C. v2e (Hu, Liu, Delbruck, "v2e: From Video Frames to Realistic
DVS Events", CVPR Workshops 2021) adds what a real sensor does: per-pixel threshold
mismatch, a refractory period after each event, shot noise (worse in the dark) and leak
events.

Here the loop runs over rendered frames and over the crossing index within a frame step
(rarely more than a few); every operation inside is vectorised over pixels. A crossing
inside a pixel's refractory period emits nothing, but its reference still moves (the
change is lost, as in a pixel held in reset). Noise events are independent Poisson
processes per pixel and ignore the refractory period.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xsd.world.layout import EVENT_DTYPE

LOG_EPS = 0.01      # dark floor of the log response (relative to full scale)


@dataclass(frozen=True)
class SensorParams:
    contrast_threshold: float = 0.2
    threshold_mismatch: float = 0.03
    refractory_us: int = 1000
    shot_noise_hz: float = 0.0      # per pixel
    leak_noise_hz: float = 0.0      # per pixel


def simulate(luminance: np.ndarray, times_us: np.ndarray, params: SensorParams,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Events (EVENT_DTYPE, sorted by t) from frames luminance [T, H, W] at times_us [T].

    Returns the events and a boolean mask marking the noise events among them. Every
    timestamp lies in [times_us[0], times_us[-1]].
    """
    luminance = np.asarray(luminance, dtype=np.float64)
    times_us = np.asarray(times_us, dtype=np.float64)
    if luminance.ndim != 3 or len(luminance) != len(times_us) or len(times_us) < 2:
        raise ValueError(f"need frames [T>=2, H, W] and T times; got {luminance.shape}, {times_us.shape}")
    if (np.diff(times_us) <= 0).any():
        raise ValueError("frame times must increase")
    _, h, w = luminance.shape
    log_frames = np.log(luminance + LOG_EPS).reshape(len(luminance), -1)
    thresholds = _thresholds(params, h * w, rng)
    signal = _crossings(log_frames, times_us, thresholds, params.refractory_us)
    noise = _noise(params, h * w, (times_us[0], times_us[-1]), rng)
    pixel = np.concatenate([signal[0], noise[0]])
    t = np.concatenate([signal[1], noise[1]])
    p = np.concatenate([signal[2], noise[2]])
    is_noise = np.concatenate([np.zeros(len(signal[0]), bool), np.ones(len(noise[0]), bool)])
    order = np.argsort(t, kind="stable")
    events = np.empty(len(t), dtype=EVENT_DTYPE)
    events["x"], events["y"] = pixel[order] % w, pixel[order] // w
    events["t"], events["p"] = t[order], p[order]
    return events, is_noise[order]


def _thresholds(params: SensorParams, n_pixels: int, rng) -> np.ndarray:
    """Per-pixel thresholds [2, n]: row 0 for positive, row 1 for negative events."""
    if params.threshold_mismatch > 0:
        spread = np.clip(rng.normal(1.0, params.threshold_mismatch, (2, n_pixels)), 0.25, None)
    else:
        spread = np.ones((2, n_pixels))
    return params.contrast_threshold * spread


def _crossings(log_frames, times_us, thresholds, refractory_us):
    reference = log_frames[0].copy()
    last_event = np.full(reference.shape, -np.inf)
    out_pixel, out_t, out_p = [], [], []
    for k in range(len(log_frames) - 1):
        start, end = log_frames[k], log_frames[k + 1]
        up = end - reference >= thresholds[0]
        down = reference - end >= thresholds[1]
        pixels = np.flatnonzero(up | down)
        if not pixels.size:
            continue
        sign = np.where(up[pixels], 1.0, -1.0)
        step = np.where(up[pixels], thresholds[0, pixels], thresholds[1, pixels])
        n = np.floor((end[pixels] - reference[pixels]) * sign / step).astype(np.int64)
        change = end[pixels] - start[pixels]
        for i in range(1, int(n.max()) + 1):
            live = n >= i
            px = pixels[live]
            level = reference[px] + sign[live] * step[live] * i
            fraction = np.clip((level - start[px]) / change[live], 0.0, 1.0)
            t = times_us[k] + fraction * (times_us[k + 1] - times_us[k])
            fire = t - last_event[px] >= refractory_us
            last_event[px[fire]] = t[fire]
            out_pixel.append(px[fire])
            out_t.append(t[fire])
            out_p.append(sign[live][fire] > 0)
        reference[pixels] += sign * step * n
    if not out_pixel:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8)
    return (np.concatenate(out_pixel), np.round(np.concatenate(out_t)).astype(np.int64),
            np.concatenate(out_p).astype(np.uint8))


def _noise(params: SensorParams, n_pixels: int, span, rng):
    t0, t1 = span
    duration_s = (t1 - t0) / 1e6
    parts = []
    for rate, positive_only in ((params.shot_noise_hz, False), (params.leak_noise_hz, True)):
        n = rng.poisson(rate * n_pixels * duration_s) if rate > 0 else 0
        pixel = rng.integers(0, n_pixels, n)
        t = rng.integers(int(t0), int(t1), n, endpoint=True)
        p = np.ones(n, np.uint8) if positive_only else rng.integers(0, 2, n).astype(np.uint8)
        parts.append((pixel, t, p))
    return tuple(np.concatenate([part[j] for part in parts]) for j in range(3))
