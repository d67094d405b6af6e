"""Building the mini world: scene → rendering → events → clips, questions, files; resumable.

Each sequence is generated from its own random streams, seeded by (profile seed, sequence
index, purpose), so a sequence's files do not depend on which other sequences were built,
in what order or in which process, or whether the build was interrupted. A sequence is complete when its
meta/{seq}.json exists (written last, atomically); a rerun skips complete sequences whose
config fingerprint matches and rebuilds the rest. Timings go to timing/{seq}.json and the
manifest, never into the data files, so two builds with the same seed are byte-identical.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from xsd.processes import each_in_processes
from xsd.world import clips as C
from xsd.world import scene as S
from xsd.world.config import WorldConfig
from xsd.world.events import SensorParams, simulate
from xsd.world.frames import slice_bounds
from xsd.world.index import assemble
from xsd.world.layout import N_SLICES, DataError, Layout, read_json, write_json
from xsd.world.qa import make_questions
from xsd.world.render import luminance, noise_sigma, render, rgb_camera, camera_gain
from xsd.world.video import write_mp4

MIN_EVENTS = 5          # signal events an agent needs in a slice to count as seen by events
MIN_RGB_SNR = 5.0       # agent-vs-road contrast, in units of the camera noise, to count as seen in RGB
STREAMS = {"scene": 0, "camera": 1, "events": 2, "questions": 3}


def world_fingerprint(cfg: WorldConfig, seed: int) -> str:
    blob = json.dumps({"world": dataclasses.asdict(cfg), "seed": seed, "version": 2}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def sequence_name(index: int) -> str:
    return f"seq{index:04d}"


def test_sequences(cfg: WorldConfig, seed: int) -> set[int]:
    rng = np.random.default_rng([seed, 10**6])
    n_test = int(round(cfg.n_sequences * cfg.test_fraction))
    return set(rng.choice(cfg.n_sequences, size=n_test, replace=False).tolist())


def build_world(cfg: WorldConfig, seed: int, out: Path, force: bool = False,
                progress: bool = True, jobs: int | None = None) -> dict:
    """Build (or finish building) the world under `out`; returns the manifest. The sequences are
    built in `jobs` processes (default: one per CPU core); each is seeded by its index alone, so
    the world is the same, byte for byte, however many build it."""
    from tqdm import tqdm

    layout = Layout(out)
    fingerprint = world_fingerprint(cfg, seed)
    _check_root(layout, fingerprint, force)
    start = time.perf_counter()
    failures, built, totals = {}, 0, {"render_s": 0.0, "simulate_s": 0.0, "write_s": 0.0, "events": 0}
    todo = [i for i in range(cfg.n_sequences) if not _is_done(layout, sequence_name(i), fingerprint)]
    jobs = min(jobs or os.cpu_count() or 1, max(len(todo), 1))
    build = functools.partial(_build_or_fail, cfg, seed, str(out), fingerprint)
    for index, outcome in zip(todo, tqdm(each_in_processes(build, todo, jobs), total=len(todo),
                                         desc="world sequences", unit="seq", disable=not progress)):
        if "failed" in outcome:
            failures[sequence_name(index)] = {"status": "failed", "reason": outcome["failed"]}
            continue
        built += 1
        for key in totals:
            totals[key] += outcome[key]
    elapsed = time.perf_counter() - start
    stats = world_stats(layout)
    manifest = assemble(out, {
        "source": "world", "fingerprint": fingerprint, "seed": seed, "config": dataclasses.asdict(cfg),
        "sequences": failures, "stats": stats,
        "last_run": {"wall_s": round(elapsed, 2), "sequences_built": built,
                     "sequences_reused": cfg.n_sequences - len(todo),
                     "events_simulated": totals["events"],
                     "simulator_events_per_s": round(totals["events"] / max(totals["simulate_s"], 1e-9)),
                     **{k: round(v, 2) for k, v in totals.items() if k.endswith("_s")}},
    })
    return manifest


def _build_or_fail(cfg: WorldConfig, seed: int, out: str, fingerprint: str, index: int) -> dict:
    """One sequence built in its split: its timings, or {"failed": reason} when it cannot be."""
    split = "test" if index in test_sequences(cfg, seed) else "train"
    try:
        return build_sequence(cfg, seed, index, Layout(Path(out)), split, fingerprint)
    except (OSError, ValueError) as error:
        return {"failed": f"{type(error).__name__}: {error}"}


def build_sequence(cfg: WorldConfig, seed: int, index: int, layout: Layout, split: str,
                   fingerprint: str) -> dict:
    """Generate and write one sequence; returns its timings and event count."""
    seq = sequence_name(index)
    rng = {name: np.random.default_rng([seed, index, k]) for name, k in STREAMS.items()}
    duration = (cfg.clips_per_sequence + 1) * C.STEP_US / 1e6
    t = time.perf_counter()
    scene = S.sample_scene(rng["scene"], cfg.width, cfg.height, duration,
                           cfg.ego_motion_probability, cfg.stopped_probability)
    times = np.arange(int(round(duration * cfg.render_fps)) + 1) / cfg.render_fps
    radiance, owner = render(scene, times)
    video_index = np.arange(int(round(duration * cfg.video_fps))) * (cfg.render_fps // cfg.video_fps)
    video = rgb_camera(radiance[video_index], scene["lighting"], rng["camera"])
    t_render = time.perf_counter() - t
    t = time.perf_counter()
    times_us = np.round(times * 1e6).astype(np.int64)
    events, is_noise = simulate(luminance(radiance), times_us, sensor_params(cfg, scene["lighting"]), rng["events"])
    t_sim = time.perf_counter() - t
    t = time.perf_counter()
    agent_of = attribute_events(events, is_noise, owner, times_us)
    frame_times_us = np.round(times[video_index] * 1e6).astype(np.int64)
    clip_records, questions = [], []
    for c, window in enumerate(C.clip_windows(0, int(times_us[-1]))[: cfg.clips_per_sequence]):
        clip = C.clip_name(c)
        lo, hi = np.searchsorted(events["t"], window, side="left")
        C.write_clip(layout, seq, clip, events[lo:hi], window, cfg.width, cfg.height)
        truth = clip_truth(scene, window, events[lo:hi], agent_of[lo:hi], is_noise[lo:hi],
                           radiance, owner, times_us)
        clip_records.append({"clip": clip, "t_start_us": window[0], "t_end_us": window[1],
                             "frame_range": list(C.frame_range(frame_times_us, window)),
                             "n_events": int(hi - lo), "truth": truth})
        for k, q in enumerate(make_questions(truth, rng["questions"])):
            questions.append({"id": f"{seq}/{clip}/q{k}", "seq": seq, "clip": clip, **q})
    write_mp4(layout.mp4(seq), video, cfg.video_fps)
    write_json(layout.root / "timing" / f"{seq}.json", {"render_s": t_render, "simulate_s": t_sim,
                                                         "events": int(len(events))})
    write_json(layout.meta(seq), {
        "seq": seq, "source": "world", "split": split, "fingerprint": fingerprint,
        "sensor_size": [cfg.width, cfg.height], "video_fps": cfg.video_fps,
        "scene": scene, "clips": clip_records, "questions": questions, "skipped": [],
    })
    return {"render_s": t_render, "simulate_s": t_sim, "write_s": time.perf_counter() - t,
            "events": int(len(events))}


def sensor_params(cfg: WorldConfig, lighting: str) -> SensorParams:
    return SensorParams(cfg.contrast_threshold, cfg.threshold_mismatch, cfg.refractory_us,
                        shot_noise_hz=cfg.shot_noise_hz / S.LIGHT_LEVEL[lighting],
                        leak_noise_hz=cfg.leak_noise_hz)


def attribute_events(events, is_noise, owner, times_us) -> np.ndarray:
    """Index of the agent that caused each event (-1: background or noise)."""
    step = np.clip(np.searchsorted(times_us, events["t"], side="right") - 1, 0, len(times_us) - 2)
    y, x = events["y"].astype(np.int64), events["x"].astype(np.int64)
    after, before = owner[step + 1, y, x], owner[step, y, x]
    agent = np.where(after >= 0, after, before).astype(np.int64)
    return np.where(is_noise, -1, agent)


def clip_truth(scene, window, events, agent_of, is_noise, radiance, owner, times_us) -> dict:
    """Ground truth of one clip: the scene, plus what each sensor registered of every agent."""
    t0, t1 = window
    mid = int(np.argmin(np.abs(times_us - (t0 + t1) / 2)))
    snr = rgb_snr(scene, radiance[mid], owner[mid])
    per_slicing = {}
    for slicing in ("time", "count"):
        bounds = slice_bounds(events["t"], window, N_SLICES, slicing)
        per_slicing[slicing] = [np.bincount(agent_of[a:b][agent_of[a:b] >= 0], minlength=len(scene["agents"]))
                                for a, b in zip(bounds[:-1], bounds[1:])]
    agents = []
    for a in scene["agents"]:
        by_time = [int(c[a["id"]]) for c in per_slicing["time"]]
        by_count = [int(c[a["id"]]) for c in per_slicing["count"]]
        agents.append({**{k: a[k] for k in ("id", "class", "colour", "direction", "lane", "speed")},
                       "x_start": S.agent_x(a, t0 / 1e6, scene["width"]),
                       "x_mid": S.agent_x(a, (t0 + t1) / 2e6, scene["width"]),
                       "x_event": S.agent_x(a, t0 / 1e6 + 0.1, scene["width"]),
                       "events_time": by_time, "events_count": by_count,
                       "event_visible": by_time[0] >= MIN_EVENTS,
                       "rgb_snr": round(float(snr[a["id"]]), 2), "rgb_visible": bool(snr[a["id"]] >= MIN_RGB_SNR)})
    return {"lighting": scene["lighting"], "ego_motion": scene["ego_motion"],
            "t_start_us": int(t0), "t_end_us": int(t1), "agents": agents,
            "n_events": int(len(events)), "n_noise_events": int(is_noise.sum())}


def rgb_snr(scene, radiance_frame, owner_frame) -> np.ndarray:
    """Per agent: its contrast to the road in the camera image, over the camera noise.

    Contrast is the second-largest |luma − road| among the agent's pixels: two pixels that
    clear the noise make it visible (so a vehicle's lights count at night)."""
    lighting = scene["lighting"]
    image_luma = luminance(rgb_camera(radiance_frame, lighting, None).astype(np.float32) / 255.0)
    road = S.ROAD * S.LIGHT_LEVEL[lighting] * camera_gain(lighting)
    snr = np.zeros(len(scene["agents"]))
    for a in scene["agents"]:
        pixels = owner_frame == a["id"]
        if pixels.sum() >= 2:
            contrast = np.sort(np.abs(image_luma[pixels] - road))[-2]
            snr[a["id"]] = contrast / noise_sigma(lighting)
    return snr


def world_stats(layout: Layout) -> dict:
    """Event counts per lighting and per agent class over all finished sequences."""
    by_lighting: dict[str, list] = {}
    by_class: dict[str, list] = {}
    for seq in layout.finished_sequences():
        for clip in read_json(layout.meta(seq))["clips"]:
            truth = clip["truth"]
            by_lighting.setdefault(truth["lighting"], []).append(truth["n_events"])
            for a in truth["agents"]:
                by_class.setdefault(a["class"], []).append(sum(a["events_time"]))
    summary = lambda v: {"clips": len(v), "mean": round(float(np.mean(v)), 1), "min": int(np.min(v)),
                         "max": int(np.max(v))}
    return {"events_per_clip_by_lighting": {k: summary(v) for k, v in sorted(by_lighting.items())},
            "events_per_agent_by_class": {k: summary(v) for k, v in sorted(by_class.items())}}


def _is_done(layout: Layout, seq: str, fingerprint: str) -> bool:
    if not layout.meta(seq).is_file():
        return False
    try:
        return read_json(layout.meta(seq)).get("fingerprint") == fingerprint
    except DataError:
        return False


def _check_root(layout: Layout, fingerprint: str, force: bool) -> None:
    """Refuse to mix worlds of different settings in one root; --force clears the old index."""
    if force:
        for name in ("meta", "timing"):
            for path in (layout.root / name).glob("*.json"):
                path.unlink()
        return
    for seq in layout.finished_sequences():
        try:
            previous = read_json(layout.meta(seq)).get("fingerprint")
        except DataError:
            continue                        # a corrupt meta is rebuilt
        if previous != fingerprint:
            raise DataError(f"{layout.meta(seq)}: this root holds a world built with other settings "
                            f"(fingerprint {previous}, now {fingerprint}); use another --out or --force")
