"""Importing any event-camera recording: an events .npy (or .npz) beside a time-aligned video.

EVENTS is an .npy holding a structured array with fields x, y, p (0/1) and t (µs), or an .npz
of arrays x, y, p, t. It is untrusted input, read without pickle: a pickled file (such as a
dict saved with np.save) is refused with a DataError, because loading it could run code.
VIDEO is RGB or grey, its first frame at --video-start-us on the event clock. The overlap
is cut into 1 s clips with 50% overlap, written in the study's layout.
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
    size = tuple(sensor_size) if sensor_size else (int(events["x"].max()) + 1, int(events["y"].max()) + 1)
    span = (max(int(events["t"][0]), int(frame_times_us[0])),
            min(int(events["t"][-1]) + 1, int(frame_times_us[-1] + 1e6 / fps)))   # the last frame lasts 1/fps
    where = f"{events_path} with {video_path}"
    meta = cut_sequence(layout, name, "recording", split, lambda w: events_in(events, w), span,
                        frame_times_us, size, fps, where, lambda: write_mp4(layout.mp4(name), frames, fps))
    return assemble(out, {"source": "import", "sequences": {}, "last_import": {
        "kind": "recording", "seq": name, "events": str(events_path), "video": str(video_path),
        "clips": len(meta["clips"]), "skipped": meta["skipped"]}})
