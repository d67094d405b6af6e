"""Dense per-frame scene attributes: targets for pretraining the vision towers (issue 4, 5a).

`dense_targets(truth, index, modality)` describes what one input frame shows, lane by lane
(lane 0 nearest) plus two global attributes. Encoding (all numpy, fixed sizes):

  lane_class  int64 [4]   0 = nothing seen in the lane, else 1 + index in scene.CLASSES
  lane_attr   int64 [4]   rgb: 1 + index in COLOUR_NAMES (0 = colour not visible: night);
                          event: 1 + index in scene.DIRECTIONS
  lane_x      float32 [4] horizontal centre, 0..1 of the width (0 where nothing is seen)
  lane_mask   bool [4]    the lane's agent is seen in this frame (supervise attr and x only here)
  attr_mask   bool [4]    lane_attr is meaningful (seen and, for rgb, colour visible)
  lighting    int64       index in scene.LIGHTINGS
  lighting_mask bool      False for events (they cannot tell)
  count       int64       agents seen in this frame

What a frame "sees" follows the modality: an event frame (index = slice k of 5, equal-time
or equal-count slicing) sees an agent that produced at least MIN_EVENTS events in that slice,
never its colour; an RGB frame (index = one of the 8 sampled frames) sees the agents whose
contrast clears the camera noise (few at night), their colour by day and dusk, not their
direction (one frame shows no motion).
"""
from __future__ import annotations

import numpy as np

from xsd.world.build import MIN_EVENTS
from xsd.world.layout import N_SLICES
from xsd.world.scene import CLASSES, COLOURS, DIRECTIONS, LIGHTINGS, N_LANES, agent_box
from xsd.world.video import TARGET_FRAMES

COLOUR_NAMES = tuple(COLOURS)
MODALITIES = ("event", "rgb")


def dense_targets(truth: dict, index: int, modality: str, slicing: str = "time") -> dict:
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, not {modality!r}")
    lane_class = np.zeros(N_LANES, np.int64)
    lane_attr = np.zeros(N_LANES, np.int64)
    lane_x = np.zeros(N_LANES, np.float32)
    time_s = frame_time_s(truth, index, modality)
    for agent in truth["agents"]:
        if not seen_in_frame(agent, index, modality, slicing):
            continue
        if modality == "event":
            attr = 1 + DIRECTIONS.index(agent["direction"])
        else:
            attr = 1 + COLOUR_NAMES.index(agent["colour"]) if truth["lighting"] != "night" else 0
        lane = agent["lane"]
        lane_class[lane] = 1 + CLASSES.index(agent["class"])
        lane_attr[lane] = attr
        lane_x[lane] = _x_at(agent, time_s, truth["t_start_us"] / 1e6)
    lane_mask = lane_class > 0
    return {"lane_class": lane_class, "lane_attr": lane_attr, "lane_x": lane_x, "lane_mask": lane_mask,
            "attr_mask": lane_mask & (lane_attr > 0),
            "lighting": np.int64(LIGHTINGS.index(truth["lighting"])),
            "lighting_mask": np.bool_(modality == "rgb"), "count": np.int64(lane_mask.sum())}


def frame_time_s(truth: dict, index: int, modality: str) -> float:
    """When input frame `index` of a clip shows the scene (seconds): an event slice's middle, or a
    video frame's time within the clip (the 8 frames spread evenly over it)."""
    t0, t1 = truth["t_start_us"], truth["t_end_us"]
    if modality == "event":
        return (t0 + (index + 0.5) * (t1 - t0) / N_SLICES) / 1e6
    return (t0 + index / (TARGET_FRAMES - 1) * (t1 - t0)) / 1e6


def seen_in_frame(agent: dict, index: int, modality: str, slicing: str = "time") -> bool:
    """An event slice sees an agent with MIN_EVENTS events in it; a video frame one whose contrast clears the noise."""
    return agent[f"events_{slicing}"][index] >= MIN_EVENTS if modality == "event" else agent["rgb_visible"]


def _x_at(agent: dict, time_s: float, clip_start_s: float) -> float:
    """Centre x (fraction of width) at time_s, from the clip's start and middle positions."""
    velocity = (agent["x_mid"] - agent["x_start"]) / 0.5
    return float(np.clip(agent["x_start"] + velocity * (time_s - clip_start_s), 0.0, 1.0))


def patch_targets(scene: dict, truth: dict, index: int, modality: str, grid: int,
                  slicing: str = "time") -> dict:
    """What each patch of a `grid` × `grid` tower shows of one input frame (the frame `dense_targets`
    describes), row by row: multi-hot over scene.CLASSES and over the frame's attribute (rgb:
    COLOUR_NAMES where colour is visible; event: scene.DIRECTIONS) of the agents seen in the frame
    whose box covers at least 15% of the patch or of itself.

      patch_class uint8 [grid², len(CLASSES)]
      patch_attr  uint8 [grid², len(COLOUR_NAMES) or len(DIRECTIONS)]

    Boxes come from the scene (`scene.agent_box` at the frame's time); what is seen from the truth."""
    n_attr = len(DIRECTIONS) if modality == "event" else len(COLOUR_NAMES)
    patch_class = np.zeros((grid * grid, len(CLASSES)), np.uint8)
    patch_attr = np.zeros((grid * grid, n_attr), np.uint8)
    time_s = frame_time_s(truth, index, modality)
    seen = {a["id"] for a in truth["agents"] if seen_in_frame(a, index, modality, slicing)}
    cell_w, cell_h = scene["width"] / grid, scene["height"] / grid
    for agent in scene["agents"]:
        if agent["id"] not in seen:
            continue
        left, top, width, height = (float(v) for v in agent_box(agent, time_s, scene["height"]))
        cols = _overlaps(left, width, cell_w, grid)
        rows = _overlaps(top, height, cell_h, grid)
        covered = np.outer(rows, cols).ravel() >= 0.15 * min(width * height, cell_w * cell_h)
        patch_class[covered, CLASSES.index(agent["class"])] = 1
        if modality == "event":
            patch_attr[covered, DIRECTIONS.index(agent["direction"])] = 1
        elif truth["lighting"] != "night":
            patch_attr[covered, COLOUR_NAMES.index(agent["colour"])] = 1
    return {"patch_class": patch_class, "patch_attr": patch_attr}


def _overlaps(start: float, length: float, cell: float, grid: int) -> np.ndarray:
    """How much of [start, start + length) falls in each of `grid` cells of size `cell`."""
    edges = np.arange(grid + 1) * cell
    return np.clip(np.minimum(start + length, edges[1:]) - np.maximum(start, edges[:-1]), 0, None)
