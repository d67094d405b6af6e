"""Event frames as EventGPT draws them: a clip's events in 5 slices, each on a white image,
pixels with a positive last event red (255, 0, 0), with a negative last event blue (0, 0, 255).

Two ways to slice the 1 s window: "time" (5 equal durations, as the study's preprocessing
did for the PNGs on disk) and "count" (5 runs of equal event count, EventGPT's own
slicing). Either way every event lands in exactly one slice.
"""
from __future__ import annotations

import numpy as np

from xsd.world.layout import N_SLICES

SLICINGS = ("time", "count")
POSITIVE = (255, 0, 0)
NEGATIVE = (0, 0, 255)


def slice_bounds(t: np.ndarray, window: tuple[int, int], n: int = N_SLICES,
                 slicing: str = "time") -> np.ndarray:
    """Indices b[0..n] into sorted timestamps t: slice k holds events b[k]:b[k+1]."""
    if slicing == "time":
        edges = np.linspace(window[0], window[1], n + 1)
        bounds = np.searchsorted(t, edges, side="left")
        bounds[-1] = len(t)
        bounds[0] = 0
        return bounds
    if slicing == "count":
        return np.round(np.linspace(0, len(t), n + 1)).astype(np.int64)
    raise ValueError(f"unknown slicing {slicing!r}; use one of {SLICINGS}")


def slice_times(t: np.ndarray, window, n: int = N_SLICES, slicing: str = "time") -> np.ndarray:
    """Start and end time (µs) of each slice, [n, 2]: for "count" the span its events cover."""
    if slicing == "time":
        edges = np.linspace(window[0], window[1], n + 1)
        return np.stack([edges[:-1], edges[1:]], axis=1)
    bounds = slice_bounds(t, window, n, slicing)
    starts = np.array([t[b] if b < len(t) else window[1] for b in bounds[:-1]], dtype=np.float64)
    starts[0] = window[0]
    return np.stack([starts, np.append(starts[1:], window[1])], axis=1)


def draw(events: np.ndarray, width: int, height: int) -> np.ndarray:
    """One event frame uint8 [H, W, 3]; a pixel takes the colour of its last event."""
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    if not len(events):
        return image
    pixel = events["y"].astype(np.int64) * width + events["x"]
    reversed_pixels = pixel[::-1]
    unique, first_in_reverse = np.unique(reversed_pixels, return_index=True)
    last_polarity = events["p"][::-1][first_in_reverse]
    flat = image.reshape(-1, 3)
    flat[unique] = np.where(last_polarity[:, None] > 0, POSITIVE, NEGATIVE)
    return image


def event_frames(events: np.ndarray, window, width: int, height: int, n: int = N_SLICES,
                 slicing: str = "time") -> np.ndarray:
    """All n event frames of a clip, uint8 [n, H, W, 3]."""
    bounds = slice_bounds(events["t"], window, n, slicing)
    return np.stack([draw(events[bounds[k]:bounds[k + 1]], width, height) for k in range(n)])
