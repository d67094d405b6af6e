"""Procedural driving scenes: what is in a sequence and how it moves (the ground truth).

The camera looks down a road. The road below the horizon is split into 4 lanes (depth
bands, lane 0 nearest, at the bottom); each holds at most one agent, drawn smaller the
farther its lane. An agent crosses its lane (direction left/right, in pixels per second),
comes towards the camera or drives away (its size grows or shrinks exponentially), or
stands still. Speeds are chosen so every agent stays fully in view for the whole sequence,
so a sequence's agents are the same in every clip. Ego-motion moves the road texture
towards the camera. Lighting scales what the cameras receive (see `render`).

Colours are chosen so that every agent is brighter than the dark asphalt by a clear margin
in luminance: events see luminance change only, and a colour with no luminance contrast to
the road would be invisible to them (`luminance_contrast` measures it).
"""
from __future__ import annotations

import numpy as np

CLASSES = ("car", "truck", "bus", "pedestrian", "cyclist")
VEHICLES = ("car", "truck", "bus")
DIRECTIONS = ("left", "right", "towards", "away", "stopped")
LIGHTINGS = ("day", "dusk", "night")
EGO_MOTIONS = ("stationary", "forward")
COLOURS = {
    "red": (0.85, 0.12, 0.10),
    "blue": (0.20, 0.40, 1.00),
    "green": (0.15, 0.70, 0.20),
    "yellow": (0.95, 0.85, 0.15),
    "white": (0.95, 0.95, 0.95),
    "grey": (0.60, 0.60, 0.60),
}
ROAD = 0.12                 # asphalt reflectance (grey)
N_LANES = 4
HORIZON = 0.3125            # horizon row as a fraction of the height
LIGHT_LEVEL = {"day": 1.0, "dusk": 0.35, "night": 0.06}
COUNT_WEIGHTS = (0.08, 0.23, 0.27, 0.23, 0.19)   # P(0..4 agents)
LIGHTING_WEIGHTS = (0.45, 0.2, 0.35)
# width, height in pixels at lane scale 1 on a 64-pixel-high frame; speed range in px/s
SIZE = {"car": (17, 9), "truck": (24, 12), "bus": (28, 12), "pedestrian": (4.5, 12), "cyclist": (9, 10)}
SPEED = {"car": (7, 14), "truck": (6, 11), "bus": (5, 10), "pedestrian": (2.5, 5), "cyclist": (4, 8)}
GROWTH = (0.12, 0.25)       # log-size change per second when coming towards / driving away


def luma(rgb) -> float:
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def luminance_contrast(colour: str) -> float:
    """|log(agent / road)| in luminance: how strongly an agent of this colour drives events."""
    return abs(float(np.log(luma(COLOURS[colour]) / ROAD)))


def lane_bounds(lane: int, height: int) -> tuple[float, float]:
    """Top and bottom row of a lane (lane 0 is the nearest, at the bottom of the frame)."""
    top = HORIZON * height
    band = (height - top) / N_LANES
    bottom = height - lane * band
    return bottom - band, bottom


def lane_scale(lane: int) -> float:
    return 1.0 - 0.15 * lane


def sample_scene(rng: np.random.Generator, width: int, height: int, duration: float,
                 ego_probability: float = 0.3, stopped_probability: float = 0.15) -> dict:
    """A random scene (JSON-serialisable): lighting, ego-motion, agents and background."""
    count = int(rng.choice(len(COUNT_WEIGHTS), p=COUNT_WEIGHTS))
    lanes = sorted(rng.choice(N_LANES, size=count, replace=False).tolist())
    agents = [sample_agent(rng, i, lane, width, height, duration, stopped_probability)
              for i, lane in enumerate(lanes)]
    return {
        "lighting": str(rng.choice(LIGHTINGS, p=LIGHTING_WEIGHTS)),
        "ego_motion": "forward" if rng.random() < ego_probability else "stationary",
        "ego_speed": float(rng.uniform(6, 12)),            # road texture, px/s
        "agents": agents,
        "background": sample_background(rng, width),
        "width": width, "height": height, "duration": duration,
    }


def sample_agent(rng, index: int, lane: int, width: int, height: int, duration: float,
                 stopped_probability: float) -> dict:
    cls = str(rng.choice(CLASSES))
    unit = height / 64.0
    w, h = (s * unit * lane_scale(lane) for s in SIZE[cls])
    moves = ("left", "right", "towards", "away")
    direction = "stopped" if rng.random() < stopped_probability else str(rng.choice(moves))
    speed = float(rng.uniform(*SPEED[cls])) * unit
    vx, growth = 0.0, 0.0
    if direction in ("left", "right"):
        vx = speed if direction == "right" else -speed
    elif direction in ("towards", "away"):
        growth = float(rng.uniform(*GROWTH)) * (1 if direction == "towards" else -1)
    if w * np.exp(growth * duration) > width - 2:         # keep it in view the whole sequence
        growth = float(np.log((width - 2) / w) / duration)
    widest = w * np.exp(max(growth, 0.0) * duration)
    if widest + abs(vx) * duration > width - 2:
        vx = float(np.sign(vx) * (width - 2 - widest) / duration)
        speed = abs(vx)
    travel = vx * duration
    low = 1 + widest / 2 + max(0.0, -travel)
    high = width - 1 - widest / 2 - max(0.0, travel)
    return {
        "id": index, "class": cls, "colour": str(rng.choice(list(COLOURS))),
        "direction": direction, "lane": int(lane), "speed": round(float(speed), 3),
        "x0": float(rng.uniform(low, max(low, high))), "vx": float(vx), "growth": growth,
        "size": [float(w), float(h)],
    }


def sample_background(rng, width: int) -> dict:
    """Buildings along the horizon: left edges, widths, heights (fraction of the sky) and greys."""
    n = int(rng.integers(3, 7))
    return {
        "left": np.sort(rng.uniform(-4, width, n)).round(2).tolist(),
        "width": rng.uniform(6, 18, n).round(2).tolist(),
        "height": rng.uniform(0.2, 0.8, n).round(3).tolist(),
        "grey": rng.uniform(0.25, 0.55, n).round(3).tolist(),
    }


def agent_box(agent: dict, t, height: int):
    """Left, top, width, height of an agent's box at times t (seconds, array)."""
    t = np.asarray(t, dtype=np.float64)
    scale = np.exp(agent["growth"] * t)
    w, h = agent["size"][0] * scale, agent["size"][1] * scale
    centre = agent["x0"] + agent["vx"] * t
    bottom = lane_bounds(agent["lane"], height)[1] - 0.5
    return centre - w / 2, bottom - h, w, h


def agent_x(agent: dict, t: float, width: int) -> float:
    """Horizontal centre of an agent at time t, as a fraction of the width."""
    return float((agent["x0"] + agent["vx"] * t) / width)


def position_word(x_fraction: float) -> str:
    return "left" if x_fraction < 1 / 3 else "right" if x_fraction > 2 / 3 else "centre"
