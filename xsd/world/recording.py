"""Importing any event-camera recording: an events .npy (or .npz) beside a time-aligned video.

EVENTS is an .npy holding a structured array with fields x, y, p (0/1) and t (µs), or an .npz
of arrays x, y, p, t. It is untrusted input, read without pickle: a pickled file (such as a
dict saved with np.save) is refused with a DataError, because loading it could run code.
VIDEO is RGB or grey, its first frame at --video-start-us on the event clock. The overlap
is cut into 1 s clips with 50% overlap, written in the study's layout.

The sensor size is --sensor-size when given. Without it, it is inferred from the events' extent
(largest x and y, plus one), and the import is refused when that extent reaches beyond the
video's frame: one stray event far outside the image would otherwise make every event frame of
the sequence that large. The manifest's `last_import` records the size and where it came from.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from xsd.world.clips import cut_sequence, events_in
from xsd.world.index import assemble
from xsd.world.layout import DataError, Layout, read_events
from xsd.world.video import read_mp4, write_mp4


def import_recording(events_path, video_path, out, name: str, video_start_us: int = 0,
                     sensor_size=None, split: str = "train") -> dict:
    """Import one recording as sequence `name` under `out`; returns the manifest."""
    events_path, video_path, layout = Path(events_path), Path(video_path), Layout(out)
    events = read_events(events_path)
    if not len(events):
        raise DataError(f"{events_path}: no events")
    frames, times_s = read_mp4(video_path)
    frame_times_us = video_start_us + np.round(times_s * 1e6).astype(np.int64)
    fps = 1.0 / float(np.median(np.diff(times_s))) if len(times_s) > 1 else 1.0
    video_size = (int(frames.shape[2]), int(frames.shape[1]))
    size, size_from = infer_sensor_size(events, events_path, video_size, video_path, sensor_size)
    span = (max(int(events["t"][0]), int(frame_times_us[0])),
            min(int(events["t"][-1]) + 1, int(frame_times_us[-1] + 1e6 / fps)))   # the last frame lasts 1/fps
    where = f"{events_path} with {video_path}"
    meta = cut_sequence(layout, name, "recording", split, lambda w: events_in(events, w), span,
                        frame_times_us, size, fps, where, lambda: write_mp4(layout.mp4(name), frames, fps))
    return assemble(out, {"source": "import", "sequences": {}, "last_import": {
        "kind": "recording", "seq": name, "events": str(events_path), "video": str(video_path),
        "clips": len(meta["clips"]), "skipped": meta["skipped"], "sensor_size": list(size),
        "sensor_size_from": size_from, "video_size": list(video_size)}})


def infer_sensor_size(events: np.ndarray, events_path, video_size: tuple[int, int], video_path,
                      sensor_size=None) -> tuple[tuple[int, int], str]:
    """(width, height) of the event sensor and where it came from: `sensor_size` when given, else
    the events' extent, refused (DataError) when that reaches beyond the video's frame."""
    if sensor_size:
        return (int(sensor_size[0]), int(sensor_size[1])), "--sensor-size"
    extent = (int(events["x"].max()) + 1, int(events["y"].max()) + 1)
    if extent[0] > video_size[0] or extent[1] > video_size[1]:
        raise DataError(
            f"{events_path}: the events reach x = {extent[0] - 1}, y = {extent[1] - 1}, beyond the "
            f"{video_size[0]}x{video_size[1]} frame of {video_path}, so a sensor size inferred from them "
            f"({extent[0]}x{extent[1]}) disagrees with the video; give the sensor's size with --sensor-size W H "
            f"(events outside it are refused: remove stray ones first)")
    return extent, "the events' extent"
