"""`xsd data check`: validate a dataset root, listing every missing or corrupt file with the reason."""
from __future__ import annotations

from pathlib import Path

from xsd.world.layout import N_SLICES, DataError, Layout, read_events, read_json, read_png
from xsd.world.video import TARGET_FRAMES, read_mp4


def check_root(root, progress: bool = True) -> list[str]:
    """Problems found under root, one 'path: reason' line each (empty if the root is sound)."""
    from tqdm import tqdm

    layout = Layout(root)
    if not Path(root).is_dir():
        return [f"{root}: not a directory"]
    problems, index = [], {}
    for path in (layout.clips, layout.questions, layout.splits, layout.manifest):
        try:
            index[path.name] = read_json(path)
        except DataError as error:
            problems.append(str(error))
    clips = index.get("clips.json", [])
    problems += _check_index(index)
    by_seq: dict[str, list] = {}
    for clip in clips:
        by_seq.setdefault(clip["seq"], []).append(clip)
    for seq, seq_clips in tqdm(sorted(by_seq.items()), desc="checking", unit="seq", disable=not progress):
        problems += _check_video(layout, seq, seq_clips)
        for clip in seq_clips:
            problems += _check_clip(layout, clip)
    return problems


def _check_index(index: dict) -> list[str]:
    problems = []
    clips = {(c["seq"], c["clip"]) for c in index.get("clips.json", [])}
    for q in index.get("questions.json", []):
        if (q["seq"], q["clip"]) not in clips:
            problems.append(f"questions.json: sample {q['id']} refers to unknown clip {q['seq']}/{q['clip']}")
    split_seqs = {s for seqs in index.get("splits.json", {}).values() for s in seqs}
    for seq in sorted({s for s, _ in clips} - split_seqs):
        problems.append(f"splits.json: sequence {seq} is in no split")
    for seq, entry in sorted(index.get("manifest.json", {}).get("sequences", {}).items()):
        if entry.get("status") != "ok":
            problems.append(f"manifest.json: sequence {seq} failed: {entry.get('reason')}")
    return problems


def _check_video(layout: Layout, seq: str, clips: list[dict]) -> list[str]:
    try:
        frames, _ = read_mp4(layout.mp4(seq))
    except DataError as error:
        return [str(error)]
    problems = []
    for clip in clips:
        first, stop = clip["frame_range"]
        if stop > len(frames) or stop - first < TARGET_FRAMES:
            problems.append(f"{layout.mp4(seq)}: clip {clip['clip']} needs frames {first}..{stop - 1} "
                            f"(at least {TARGET_FRAMES}); the video has {len(frames)}")
    return problems


def _check_clip(layout: Layout, clip: dict) -> list[str]:
    seq, name = clip["seq"], clip["clip"]
    width, height = clip["sensor_size"]
    problems = []
    try:
        events = read_events(layout.event_npy(seq, name), (clip["t_start_us"], clip["t_end_us"]))
        if len(events) and (events["x"].max() >= width or events["y"].max() >= height):
            problems.append(f"{layout.event_npy(seq, name)}: events outside the sensor size {width}x{height}")
        if len(events) != clip["n_events"]:
            problems.append(f"{layout.event_npy(seq, name)}: {len(events)} events, the index says {clip['n_events']}")
    except DataError as error:
        problems.append(str(error))
    for k in range(N_SLICES):
        try:
            image = read_png(layout.event_image(seq, name, k))
            if image.shape[:2] != (height, width):
                problems.append(f"{layout.event_image(seq, name, k)}: size {image.shape[1]}x{image.shape[0]}, "
                                f"expected {width}x{height}")
        except DataError as error:
            problems.append(str(error))
    return problems
