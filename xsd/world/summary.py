"""Numbers about a dataset root for the notebooks: event rates, sizes on disk (no plotting)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from xsd.world.layout import Layout, read_json


def event_rates(root) -> list[dict]:
    """One row per clip: seq, clip, split, lighting, events, noise events, events per second."""
    rows = []
    for clip in read_json(Layout(root).clips):
        truth = clip.get("truth") or {}
        seconds = (clip["t_end_us"] - clip["t_start_us"]) / 1e6
        rows.append({"seq": clip["seq"], "clip": clip["clip"], "split": clip["split"],
                     "lighting": truth.get("lighting", "unknown"), "events": clip["n_events"],
                     "noise_events": truth.get("n_noise_events"),
                     "events_per_s": clip["n_events"] / seconds,
                     "agents": len(truth.get("agents", []))})
    return rows


def event_rates_by_lighting(root) -> dict:
    """Per lighting: clips, mean / median / min / max events per second, mean share of noise."""
    groups: dict[str, list] = {}
    for row in event_rates(root):
        groups.setdefault(row["lighting"], []).append(row)
    out = {}
    for lighting, rows in sorted(groups.items()):
        rate = np.array([r["events_per_s"] for r in rows])
        noise = [r["noise_events"] / max(r["events"], 1) for r in rows if r["noise_events"] is not None]
        out[lighting] = {"clips": len(rows), "mean": float(rate.mean()), "median": float(np.median(rate)),
                         "min": float(rate.min()), "max": float(rate.max()),
                         "noise_share": float(np.mean(noise)) if noise else None}
    return out


def events_per_agent(root) -> list[dict]:
    """One row per agent per clip: class, colour, direction, lighting, events in the clip and in slice 0."""
    rows = []
    for clip in read_json(Layout(root).clips):
        truth = clip.get("truth") or {}
        for a in truth.get("agents", []):
            rows.append({"seq": clip["seq"], "clip": clip["clip"], "lighting": truth["lighting"],
                         "class": a["class"], "colour": a["colour"], "direction": a["direction"],
                         "events": sum(a["events_time"]), "events_slice0": a["events_time"][0],
                         "event_visible": a["event_visible"], "rgb_visible": a["rgb_visible"]})
    return rows


def size_on_disk(root) -> dict:
    """Bytes per top-level part of the layout (event_npy, event_image, mp4, ...) and in total."""
    root = Path(root)
    sizes = {}
    for part in sorted(root.iterdir()) if root.is_dir() else []:
        files = [part] if part.is_file() else [p for p in part.rglob("*") if p.is_file()]
        sizes[part.name] = sum(p.stat().st_size for p in files)
    sizes["total"] = sum(sizes.values())
    return sizes


def find_clips(root, **truth_filters) -> list[tuple[str, str]]:
    """(seq, clip) of clips whose truth matches, e.g. find_clips(root, lighting="night")."""
    return [(c["seq"], c["clip"]) for c in read_json(Layout(root).clips)
            if all((c.get("truth") or {}).get(k) == v for k, v in truth_filters.items())]
