"""Cutting a sequence into 1 s clips with 50% overlap, and writing one clip's event files."""
from __future__ import annotations

import numpy as np

from xsd.world.frames import event_frames
from xsd.world.layout import N_SLICES, DataError, Layout, write_events, write_json, write_png

CLIP_US = 1_000_000
STEP_US = CLIP_US // 2


def clip_windows(t_begin: int, t_end: int) -> list[tuple[int, int]]:
    """Windows [t0, t0 + 1 s) stepping by 0.5 s that fit inside [t_begin, t_end]."""
    if t_end - t_begin < CLIP_US:
        return []
    starts = np.arange(t_begin, t_end - CLIP_US + 1, STEP_US)
    return [(int(s), int(s) + CLIP_US) for s in starts]


def clip_name(index: int) -> str:
    return f"{index:06d}"


def frame_range(frame_times_us: np.ndarray, window) -> tuple[int, int]:
    """[first, stop) of the (sorted) video frames whose time falls inside the window."""
    first = int(np.searchsorted(frame_times_us, window[0], side="left"))
    stop = int(np.searchsorted(frame_times_us, window[1], side="left"))
    return first, stop


def events_in(events: np.ndarray, window) -> np.ndarray:
    lo, hi = np.searchsorted(events["t"], window, side="left")
    return events[lo:hi]


def write_clip(layout: Layout, seq: str, clip: str, events: np.ndarray, window,
               width: int, height: int) -> None:
    """The clip's raw events and its 5 equal-time event frames."""
    write_events(layout.event_npy(seq, clip), events)
    for k, image in enumerate(event_frames(events, window, width, height, N_SLICES, "time")):
        write_png(layout.event_image(seq, clip, k), image)


def cut_sequence(layout: Layout, seq: str, source: str, split: str, read_window, t_span,
                 frame_times_us: np.ndarray, sensor_size, fps: float, where: str, write_video) -> dict:
    """Cut an imported recording into clips, call write_video(), then write its meta (last).

    read_window(window) returns the (sorted, checked) events inside a window. Clips without
    events or with fewer than 8 video frames are skipped and listed, with the reason, in the
    meta's "skipped"; a recording with no full 1 s window raises DataError.
    """
    from xsd.world.qa import generic_questions
    from xsd.world.video import TARGET_FRAMES

    windows = clip_windows(*t_span)
    if not windows:
        raise DataError(f"{where}: events and video overlap for {(t_span[1] - t_span[0]) / 1e6:.3f} s; "
                        f"a clip needs 1 s")
    width, height = sensor_size
    records, questions, skipped = [], [], []
    for c, window in enumerate(windows):
        clip = clip_name(c)
        first, stop = frame_range(frame_times_us, window)
        events = read_window(window)
        reason = (f"no events in [{window[0]}, {window[1]}) µs" if not len(events) else
                  f"{stop - first} video frames in the window, {TARGET_FRAMES} needed" if stop - first < TARGET_FRAMES
                  else None)
        if reason:
            skipped.append({"clip": clip, "reason": reason})
            continue
        if events["x"].max() >= width or events["y"].max() >= height:
            raise DataError(f"{where}: events at x up to {events['x'].max()}, y up to {events['y'].max()} "
                            f"fall outside the sensor size {width}x{height}")
        write_clip(layout, seq, clip, events, window, width, height)
        records.append({"clip": clip, "t_start_us": window[0], "t_end_us": window[1],
                        "frame_range": [first, stop], "n_events": int(len(events)), "truth": {}})
        for k, q in enumerate(generic_questions()):
            questions.append({"id": f"{seq}/{clip}/q{k}", "seq": seq, "clip": clip, **q})
    write_video()
    meta = {"seq": seq, "source": source, "split": split, "sensor_size": [int(width), int(height)],
            "video_fps": float(fps), "clips": records, "questions": questions, "skipped": skipped}
    write_json(layout.meta(seq), meta)
    return meta
