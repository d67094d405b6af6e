"""`xsd data check`: validate a dataset root, listing every missing or corrupt file with the reason.

Checked: the index files' structure (each clip and question entry has its fields, with the file
and the entry's index named), that every sequence a split or a clip names has its meta file, its
video and its clips' event files, and every file's content. Warnings (the root is still usable,
but probably not what was meant): a sequence whose sensor size, inferred from its events'
coordinates when it was imported, is larger than its video.
"""
from __future__ import annotations

from pathlib import Path

from xsd.world.layout import N_SLICES, DataError, Layout, read_events, read_json, read_png
from xsd.world.video import TARGET_FRAMES, read_mp4

# the fields every entry needs (what xsd.world.dataset reads) and their JSON types
QUESTION_FIELDS = {"id": str, "seq": str, "clip": str, "question": str, "qtype": str, "answer_event": str,
                   "answer_video": str, "key_facts": dict, "answerable_by": list}
CLIP_FIELDS = {"seq": str, "clip": str, "t_start_us": int, "t_end_us": int, "frame_range": list,
               "n_events": int, "sensor_size": list}
PAIRS = ("frame_range", "sensor_size")  # clip fields that are two integers


def check_root(root, progress: bool = True, warnings: list | None = None) -> list[str]:
    """Problems found under root, one 'path: reason' line each (empty if the root is sound).
    Warnings, if a list is given, are appended to it."""
    from tqdm import tqdm

    layout = Layout(root)
    if not Path(root).is_dir():
        return [f"{root}: not a directory"]
    warnings = [] if warnings is None else warnings
    problems, index = [], {}
    for path in (layout.clips, layout.questions, layout.splits, layout.manifest):
        try:
            index[path.name] = read_json(path)
        except DataError as error:
            problems.append(str(error))
    clips, found = _entries(layout.clips, index.get("clips.json", []), CLIP_FIELDS, "clip")
    problems += found
    questions, found = _entries(layout.questions, index.get("questions.json", []), QUESTION_FIELDS, "question")
    problems += found
    splits, found = _splits(layout, index.get("splits.json", {}))
    problems += found
    problems += _check_index(clips, questions, splits, index.get("manifest.json", {}))
    by_seq: dict[str, list] = {}
    for clip in clips:
        by_seq.setdefault(clip["seq"], []).append(clip)
    problems += _check_sequences(layout, splits, by_seq)
    for seq, seq_clips in tqdm(sorted(by_seq.items()), desc="checking", unit="seq", disable=not progress):
        video_problems, video_size = _check_video(layout, seq, seq_clips)
        problems += video_problems
        extent = (0, 0)
        for clip in seq_clips:
            clip_problems, clip_extent = _check_clip(layout, clip)
            problems += clip_problems
            extent = (max(extent[0], clip_extent[0]), max(extent[1], clip_extent[1]))
        warnings += _check_sensor_size(layout, seq, seq_clips, video_size, extent)
    return problems


def _entries(path: Path, data, fields: dict, kind: str) -> tuple[list[dict], list[str]]:
    """(the entries with every field, each well typed; a problem line per other entry)."""
    if not isinstance(data, list):
        return [], [f"{path}: expected a list of {kind} entries, found {type(data).__name__}"]
    valid, problems = [], []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            problems.append(f"{path}: entry {i}: expected an object, found {type(entry).__name__}")
            continue
        name = f"entry {i}" + (f" ({entry['id']})" if isinstance(entry.get("id"), str) else "")
        missing = [f for f in fields if f not in entry]
        wrong = [f"{f} is {type(entry[f]).__name__}, not {fields[f].__name__}" for f in fields
                 if f in entry and not _is(entry[f], fields[f])]
        wrong += [f"{f} is {entry[f]!r}, not two integers" for f in PAIRS
                  if f in fields and _is(entry.get(f), list) and not _pair(entry[f])]
        if missing:
            problems.append(f"{path}: {name}: missing field(s) {missing}")
        elif wrong:
            problems.append(f"{path}: {name}: " + "; ".join(wrong))
        else:
            valid.append(entry)
    return valid, problems


def _is(value, kind) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _pair(value) -> bool:
    return len(value) == 2 and all(_is(v, int) for v in value)


def _splits(layout: Layout, data) -> tuple[dict[str, list[str]], list[str]]:
    if not isinstance(data, dict) or not all(
            isinstance(seqs, list) and all(isinstance(s, str) for s in seqs) for seqs in data.values()):
        return {}, [f"{layout.splits}: expected an object of split name -> list of sequence names"]
    return data, []


def _check_index(clips: list[dict], questions: list[dict], splits: dict, manifest) -> list[str]:
    problems = []
    known = {(c["seq"], c["clip"]) for c in clips}
    for q in questions:
        if (q["seq"], q["clip"]) not in known:
            problems.append(f"questions.json: sample {q['id']} refers to unknown clip {q['seq']}/{q['clip']}")
    split_seqs = {s for seqs in splits.values() for s in seqs}
    for seq in sorted({s for s, _ in known} - split_seqs):
        problems.append(f"splits.json: sequence {seq} is in no split")
    sequences = manifest.get("sequences", {}) if isinstance(manifest, dict) else {}
    for seq, entry in sorted(sequences.items() if isinstance(sequences, dict) else []):
        if not isinstance(entry, dict) or entry.get("status") != "ok":
            reason = entry.get("reason") if isinstance(entry, dict) else entry
            problems.append(f"manifest.json: sequence {seq} failed: {reason}")
    return problems


def _check_sequences(layout: Layout, splits: dict, by_seq: dict) -> list[str]:
    """Every sequence a split or a clip names exists and has its meta file (its video and event
    files are checked with its clips)."""
    problems, reported = [], set()
    for split, seqs in sorted(splits.items()):
        for seq in seqs:
            if seq not in by_seq and not layout.meta(seq).is_file():
                problems.append(f"{layout.splits}: split {split!r} names sequence {seq!r}, which does not "
                                f"exist (no {layout.meta(seq)}, no clips in {layout.clips.name})")
                reported.add(seq)
    for seq in sorted(set(by_seq) | {s for seqs in splits.values() for s in seqs} - reported):
        try:
            meta = read_json(layout.meta(seq))
        except DataError as error:
            problems.append(f"{error}: the meta file of sequence {seq}")
            continue
        if not isinstance(meta, dict) or meta.get("seq") != seq:
            problems.append(f"{layout.meta(seq)}: not the meta file of sequence {seq}")
    return problems


def _check_video(layout: Layout, seq: str, clips: list[dict]) -> tuple[list[str], tuple[int, int] | None]:
    """(problems, the video's (width, height) or None when it cannot be read)."""
    try:
        frames, _ = read_mp4(layout.mp4(seq))
    except DataError as error:
        return [str(error)], None
    problems = []
    for clip in clips:
        first, stop = clip["frame_range"]
        if stop > len(frames) or stop - first < TARGET_FRAMES:
            problems.append(f"{layout.mp4(seq)}: clip {clip['clip']} needs frames {first}..{stop - 1} "
                            f"(at least {TARGET_FRAMES}); the video has {len(frames)}")
    return problems, (int(frames.shape[2]), int(frames.shape[1]))


def _check_clip(layout: Layout, clip: dict) -> tuple[list[str], tuple[int, int]]:
    """(problems, the extent (max x + 1, max y + 1) of the clip's events)."""
    seq, name = clip["seq"], clip["clip"]
    width, height = clip["sensor_size"]
    problems, extent = [], (0, 0)
    try:
        events = read_events(layout.event_npy(seq, name), (clip["t_start_us"], clip["t_end_us"]))
        if len(events):
            extent = (int(events["x"].max()) + 1, int(events["y"].max()) + 1)
        if extent[0] > width or extent[1] > height:
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
    return problems, extent


def _check_sensor_size(layout: Layout, seq: str, clips: list[dict], video_size, extent) -> list[str]:
    """A warning when the sequence's event sensor is larger than its video (e.g. a sensor size inferred
    from a stray event far outside the image)."""
    if video_size is None:
        return []
    width, height = (max(c["sensor_size"][i] for c in clips) for i in (0, 1))
    if width <= video_size[0] and height <= video_size[1]:
        return []
    return [f"{layout.meta(seq)}: the event sensor is {width}x{height} (the events reach x = {extent[0] - 1}, "
            f"y = {extent[1] - 1}), larger than the {video_size[0]}x{video_size[1]} video {layout.mp4(seq).name}: "
            f"its event frames are {width}x{height}. If the events come from the video's camera, a few lie "
            f"outside its image; reimport with --sensor-size W H (events outside it are then refused)"]
