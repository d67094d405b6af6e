"""Importing DSEC (Gehrig et al., RA-L 2021) sequences into the study's layout.

Per sequence directory: events in `events/left/events.h5` (or `events.h5`) with datasets
/events/{x,y,p,t} (t in µs after /t_offset), /ms_to_idx (index of the first event at or
after each millisecond) and /t_offset, Blosc-compressed (hence hdf5plugin); frames in
`images/left/rectified/*.png` with their times (µs, absolute) in `images/timestamps.txt`.
Only the events of each 1 s window are read, through ms_to_idx, so sequences of any length
import in bounded memory; frames are streamed into the mp4 one at a time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from xsd.world.clips import cut_sequence
from xsd.world.index import assemble, hash_split
from xsd.world.layout import DataError, Layout, check_events, read_png, to_event_array
from xsd.world.video import write_mp4

EVENT_FILES = ("events/left/events.h5", "events.h5")
REQUIRED = ("events/x", "events/y", "events/p", "events/t", "ms_to_idx", "t_offset")
SENSOR_SIZE = (640, 480)


def find_sequences(dsec_root, names=None) -> list[tuple[str, Path]]:
    dsec_root = Path(dsec_root)
    if not dsec_root.is_dir():
        raise DataError(f"{dsec_root}: not a directory")
    if names:
        return [(n, dsec_root / n) for n in names]
    return [(d.name, d) for d in sorted(dsec_root.iterdir())
            if d.is_dir() and any((d / f).is_file() for f in EVENT_FILES)]


def import_dsec(dsec_root, out, sequences=None, test_fraction: float = 0.2, progress: bool = True) -> dict:
    """Import DSEC sequences; a failing sequence is recorded in the manifest and the rest go on."""
    from tqdm import tqdm

    layout, failures = Layout(out), {}
    found = find_sequences(dsec_root, sequences)
    if not found:
        raise DataError(f"{dsec_root}: no sequence directories with {' or '.join(EVENT_FILES)}")
    for name, seq_dir in tqdm(found, desc="DSEC sequences", unit="seq", disable=not progress):
        try:
            import_sequence(seq_dir, name, layout, hash_split(name, test_fraction))
        except DataError as error:
            failures[name] = {"status": "failed", "source": "dsec", "reason": str(error)}
    return assemble(out, {"source": "import", "sequences": failures,
                          "last_import": {"kind": "dsec", "root": str(dsec_root), "sequences": [n for n, _ in found]}})


def import_sequence(seq_dir: Path, name: str, layout: Layout, split: str) -> dict:
    import h5py
    import hdf5plugin  # noqa: F401  (registers the Blosc filter DSEC files need)

    h5_path = next((seq_dir / f for f in EVENT_FILES if (seq_dir / f).is_file()), None)
    if h5_path is None:
        raise DataError(f"{seq_dir}: no events file ({' or '.join(EVENT_FILES)})")
    png_paths, image_times = _images(seq_dir)
    try:
        h5 = h5py.File(h5_path, "r")
    except OSError as error:
        raise DataError(f"{h5_path}: not a readable HDF5 file ({error})") from None
    with h5:
        missing = [d for d in REQUIRED if d not in h5]
        if missing:
            raise DataError(f"{h5_path}: missing dataset(s) {', '.join('/' + d for d in missing)}")
        t_offset = int(h5["t_offset"][()])
        ms_to_idx = h5["ms_to_idx"][:]
        n_events = len(h5["events/t"])
        if n_events == 0:
            raise DataError(f"{h5_path}: no events")
        t_first, t_last = int(h5["events/t"][0]), int(h5["events/t"][n_events - 1])
        frame_times_us = image_times - t_offset
        fps = 1e6 / float(np.median(np.diff(image_times))) if len(image_times) > 1 else 1.0
        span = (int(np.ceil(max(t_first, frame_times_us[0]) / 1000) * 1000),     # ms_to_idx resolution
                min(t_last + 1, int(frame_times_us[-1] + 1e6 / fps)))            # the last frame lasts 1/fps

        def read_window(window):
            lo, hi = (_ms_index(ms_to_idx, t, n_events) for t in window)
            try:
                raw = {k: h5[f"events/{k}"][lo:hi] for k in "xypt"}
            except (OSError, ValueError) as error:
                raise DataError(f"{h5_path}: cannot read events {lo}..{hi} ({error})") from None
            events = to_event_array(raw, str(h5_path))
            check_events(events, f"{h5_path} events {lo}..{hi}")
            return events[(events["t"] >= window[0]) & (events["t"] < window[1])]

        frames = (read_png(p) for p in png_paths)
        return cut_sequence(layout, name, "dsec", split, read_window, span, frame_times_us, SENSOR_SIZE,
                            fps, str(h5_path), lambda: write_mp4(layout.mp4(name), frames, fps))


def _images(seq_dir: Path) -> tuple[list[Path], np.ndarray]:
    stamps = seq_dir / "images" / "timestamps.txt"
    png_dir = seq_dir / "images" / "left" / "rectified"
    if not stamps.is_file():
        raise DataError(f"{stamps}: missing")
    try:
        times = np.loadtxt(stamps, dtype=np.int64, ndmin=1)
    except ValueError as error:
        raise DataError(f"{stamps}: not a list of integer µs timestamps ({error})") from None
    pngs = sorted(png_dir.glob("*.png"))
    if len(pngs) != len(times):
        raise DataError(f"{png_dir}: {len(pngs)} images but {len(times)} timestamps in {stamps}")
    if len(times) > 1 and (np.diff(times) <= 0).any():
        raise DataError(f"{stamps}: timestamps out of order")
    return pngs, times


def _ms_index(ms_to_idx: np.ndarray, t_us: int, n_events: int) -> int:
    ms = t_us // 1000
    return int(ms_to_idx[ms]) if ms < len(ms_to_idx) else n_events
