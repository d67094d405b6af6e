"""Assembling a dataset root's index files from its finished sequences (meta/{seq}.json).

Builds and imports write one meta file per finished sequence; `assemble` then writes
clips.json, questions.json, splits.json and manifest.json from all of them, so several
imports into one root (or a resumed build) end with one consistent index.
"""
from __future__ import annotations

import hashlib

from xsd.world.layout import DataError, Layout, read_json, write_json



def assemble(root, manifest: dict) -> dict:
    """Write the index files; `manifest` (source, config, failures, stats...) is extended and saved."""
    layout = Layout(root)
    metas = [read_json(layout.meta(seq)) for seq in layout.finished_sequences()]
    clips, questions, splits = [], [], {"train": [], "test": []}
    for meta in metas:
        splits.setdefault(meta["split"], []).append(meta["seq"])
        for clip in meta["clips"]:
            clips.append({**clip, "seq": meta["seq"], "split": meta["split"], "source": meta["source"],
                          "sensor_size": meta["sensor_size"], "video_fps": meta["video_fps"]})
        questions.extend(meta["questions"])
    write_json(layout.clips, clips)
    write_json(layout.questions, questions)
    write_json(layout.splits, splits)
    sequences = {**_previous_sequences(layout), **manifest.get("sequences", {})}
    for meta in metas:
        sequences[meta["seq"]] = {"status": "ok", "source": meta["source"], "clips": len(meta["clips"]),
                                  "skipped": meta.get("skipped", [])}
    manifest = {**manifest, "sequences": sequences, "n_clips": len(clips), "n_samples": len(questions),
                "failed": sorted(s for s, e in sequences.items() if e["status"] != "ok")}
    write_json(layout.manifest, manifest)
    return manifest


def hash_split(name: str, test_fraction: float) -> str:
    """A split by sequence name that does not depend on which other sequences exist."""
    value = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if value < test_fraction else "train"


def _previous_sequences(layout: Layout) -> dict:
    if not layout.manifest.is_file():
        return {}
    try:
        return dict(read_json(layout.manifest).get("sequences", {}))
    except DataError:
        return {}
