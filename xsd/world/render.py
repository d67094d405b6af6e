"""Numpy renderer: a scene at given times → scene radiance, agent masks, and camera frames.

`radiance` is what reaches both sensors: reflectance × the light level of the lighting,
plus the emissive head/tail lights of vehicles at dusk and night. The event simulator reads
its luminance; `rgb_camera` turns it into 8-bit video frames the way a small auto-exposed
sensor does (gain up to 4×, read noise amplified by the gain, colour lost in the dark).
Rendering is 2× supersampled so sub-pixel motion changes pixel values smoothly, which is
what makes slow agents produce events at the right times.
"""
from __future__ import annotations

import numpy as np

from xsd.world import scene as S

SUPERSAMPLE = 2
CHUNK = 64                  # frames rendered at once (bounds memory)
MAX_GAIN = 4.0
READ_NOISE = 0.008
SATURATION = {"day": 1.0, "dusk": 0.7, "night": 0.15}
SKIN = (0.80, 0.60, 0.45)
DARK = (0.03, 0.03, 0.04)
LIGHT = (0.95, 0.90, 0.75)
# Silhouettes in box coordinates u (0 = back, 1 = front) and v (0 = top, 1 = bottom):
# (shape, part, parameters): rect (u0, u1, v0, v1), ellipse (centre u, centre v, radius u, radius v)
SHAPES = {
    "car": [("rect", "body", (0.0, 1.0, 0.38, 0.85)), ("rect", "body", (0.2, 0.75, 0.0, 0.42)),
            ("rect", "dark", (0.28, 0.68, 0.08, 0.34)),
            ("ellipse", "dark", (0.22, 0.85, 0.12, 0.16)), ("ellipse", "dark", (0.78, 0.85, 0.12, 0.16)),
            ("ellipse", "light", (0.96, 0.55, 0.06, 0.1))],
    "truck": [("rect", "body", (0.0, 0.7, 0.0, 0.85)), ("rect", "body", (0.72, 1.0, 0.15, 0.85)),
              ("rect", "dark", (0.78, 0.95, 0.2, 0.45)),
              ("ellipse", "dark", (0.15, 0.88, 0.08, 0.12)), ("ellipse", "dark", (0.35, 0.88, 0.08, 0.12)),
              ("ellipse", "dark", (0.85, 0.88, 0.08, 0.12)), ("ellipse", "light", (0.97, 0.65, 0.04, 0.08))],
    "bus": [("rect", "body", (0.0, 1.0, 0.0, 0.88)), ("rect", "dark", (0.05, 0.95, 0.12, 0.4)),
            ("ellipse", "dark", (0.18, 0.9, 0.07, 0.1)), ("ellipse", "dark", (0.82, 0.9, 0.07, 0.1)),
            ("ellipse", "light", (0.97, 0.7, 0.04, 0.08))],
    "pedestrian": [("ellipse", "skin", (0.5, 0.1, 0.35, 0.1)), ("rect", "body", (0.1, 0.9, 0.18, 0.6)),
                   ("rect", "dark", (0.15, 0.45, 0.6, 1.0)), ("rect", "dark", (0.55, 0.85, 0.6, 1.0))],
    "cyclist": [("ellipse", "dark", (0.2, 0.75, 0.2, 0.25)), ("ellipse", "dark", (0.8, 0.75, 0.2, 0.25)),
                ("rect", "body", (0.35, 0.62, 0.12, 0.55)), ("ellipse", "skin", (0.55, 0.08, 0.12, 0.08))],
}


def render(scene: dict, times) -> tuple[np.ndarray, np.ndarray]:
    """Radiance float32 [T, H, W, 3] and agent index map int8 [T, H, W] (-1 where no agent)."""
    times = np.asarray(times, dtype=np.float64)
    parts = [_render_chunk(scene, times[i:i + CHUNK]) for i in range(0, len(times), CHUNK)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def luminance(radiance: np.ndarray) -> np.ndarray:
    return radiance @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def camera_gain(lighting: str) -> float:
    return min(1.0 / S.LIGHT_LEVEL[lighting], MAX_GAIN)


def noise_sigma(lighting: str) -> float:
    return READ_NOISE * camera_gain(lighting)


def rgb_camera(radiance: np.ndarray, lighting: str, rng: np.random.Generator | None) -> np.ndarray:
    """8-bit camera frames: exposure gain, desaturation in low light, read noise (none if rng is None)."""
    image = radiance * camera_gain(lighting)
    grey = luminance(image)[..., None]
    image = grey + SATURATION[lighting] * (image - grey)
    if rng is not None:
        image = image + rng.normal(0.0, noise_sigma(lighting), image.shape).astype(np.float32)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _render_chunk(scene: dict, times: np.ndarray):
    h, w, s = scene["height"], scene["width"], SUPERSAMPLE
    level = S.LIGHT_LEVEL[scene["lighting"]]
    lit = scene["lighting"] != "day"
    refl = _background(scene, times)
    emissive = np.zeros_like(refl)
    owner = np.full(refl.shape[:3], -1, dtype=np.int8)
    for agent in sorted(scene["agents"], key=lambda a: -a["lane"]):    # far lanes first
        _paint_agent(agent, times, h, refl, emissive, owner, lit)
    radiance = refl * level + emissive
    offsets = [(i, j) for i in range(s) for j in range(s)]
    radiance = sum(radiance[:, i::s, j::s] for i, j in offsets) / len(offsets)
    owner_small = np.maximum.reduce([owner[:, i::s, j::s] for i, j in offsets])
    return radiance.astype(np.float32), owner_small


def _background(scene: dict, times: np.ndarray) -> np.ndarray:
    """Sky, buildings and road (with its moving texture under ego-motion): reflectance [T, sH, sW, 3]."""
    h, w, s = scene["height"], scene["width"], SUPERSAMPLE
    y = (np.arange(h * s) + 0.5) / s
    x = (np.arange(w * s) + 0.5) / s
    horizon = S.HORIZON * h
    sky = np.empty((h * s, w * s, 3), dtype=np.float32)
    sky[:] = np.array([0.55, 0.7, 0.9], dtype=np.float32) * (0.8 + 0.2 * (y / horizon))[:, None, None]
    bg = scene["background"]
    for left, width, height, grey in zip(bg["left"], bg["width"], bg["height"], bg["grey"]):
        rows = (y > horizon * (1 - height)) & (y < horizon)
        cols = (x >= left) & (x < left + width)
        sky[np.ix_(rows, cols)] = grey
    frames = np.repeat(sky[None], len(times), axis=0)
    road_rows = y >= horizon
    speed = scene["ego_speed"] if scene["ego_motion"] == "forward" else 0.0
    # transverse road marks every 16 rows; under ego-motion they move down towards the camera
    phase = ((y[road_rows][None, :] - horizon) - speed * times[:, None]) % 16.0
    texture = np.where(phase < 1.0, 1.6 * S.ROAD, S.ROAD)
    frames[:, road_rows] = texture[:, :, None, None]
    for lane in range(1, S.N_LANES):                                          # dashed lane dividers
        top = S.lane_bounds(lane, h)[1]
        rows = np.abs(y - top) < 0.5
        cols = (x % 10) < 5
        frames[:, rows[:, None] & cols[None, :]] = 0.5
    return frames


def _paint_agent(agent, times, h, refl, emissive, owner, lit: bool) -> None:
    s = SUPERSAMPLE
    left, top, bw, bh = S.agent_box(agent, times, h)
    r0, r1 = int(max(0, np.floor(top.min() * s))), int(min(refl.shape[1], np.ceil((top + bh).max() * s)))
    c0, c1 = int(max(0, np.floor(left.min() * s))), int(min(refl.shape[2], np.ceil((left + bw).max() * s)))
    if r1 <= r0 or c1 <= c0:
        return
    v = ((np.arange(r0, r1) + 0.5) / s - top[:, None]) / bh[:, None]          # [T, rows]
    u = ((np.arange(c0, c1) + 0.5) / s - left[:, None]) / bw[:, None]         # [T, cols]
    if agent["vx"] < 0:
        u = 1.0 - u                                                           # faces where it goes
    u, v = u[:, None, :], v[:, :, None]
    colours = {"body": S.COLOURS[agent["colour"]], "dark": DARK, "skin": SKIN, "light": DARK}
    region = refl[:, r0:r1, c0:c1]
    for shape, part, p in SHAPES[agent["class"]]:
        mask = _shape_mask(shape, p, u, v)
        region[mask] = colours[part]
        owner[:, r0:r1, c0:c1][mask] = agent["id"]
        if part == "light" and lit:
            emissive[:, r0:r1, c0:c1][mask] = LIGHT


def _shape_mask(shape: str, p, u, v) -> np.ndarray:
    if shape == "rect":
        return (u >= p[0]) & (u < p[1]) & (v >= p[2]) & (v < p[3])
    return ((u - p[0]) / p[2]) ** 2 + ((v - p[1]) / p[3]) ** 2 <= 1.0
