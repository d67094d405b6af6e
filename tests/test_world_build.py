"""Building the mini world: layout, reader, determinism, resume, check, dense targets, CLI."""
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from xsd.cli import main
from xsd.config import load_profile
from xsd.world import qa
from xsd.world.build import build_world
from xsd.world.check import check_root
from xsd.world.dataset import Sample, WorldDataset, corpus, load_clip
from xsd.world.layout import Layout, read_events, read_json
from xsd.world.summary import event_rates_by_lighting, size_on_disk
from xsd.world.targets import dense_targets, patch_targets

CFG = dataclasses.replace(load_profile("smoke").world, n_sequences=3, clips_per_sequence=2, test_fraction=0.34)
DATA_DIRS = ("event_npy", "event_image", "mp4", "meta", "clips.json", "questions.json", "splits.json")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("world")
    build_world(CFG, seed=7, out=root, progress=False, jobs=2)
    return root


def data_files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for d in DATA_DIRS for p in sorted((root / d).rglob("*"))
            if p.is_file()} | {d: (root / d).read_bytes() for d in DATA_DIRS if (root / d).is_file()}


def test_layout_is_the_studys(world):
    layout = Layout(world)
    clips = read_json(layout.clips)
    assert len(clips) == 3 * 2
    for clip in clips:
        assert layout.event_npy(clip["seq"], clip["clip"]).is_file()
        assert all(layout.event_image(clip["seq"], clip["clip"], k).is_file() for k in range(5))
        assert layout.mp4(clip["seq"]).is_file()
    assert str(layout.event_image("seq0000", "000001", 4)).endswith("event_image/seq0000/000001_4.png")
    assert len(read_json(layout.questions)) == 10 * len(clips)
    splits = read_json(layout.splits)
    assert sorted(splits["train"] + splits["test"]) == ["seq0000", "seq0001", "seq0002"] and splits["test"]


def test_reader_round_trip(world):
    train, test, every = (WorldDataset(world, split) for split in ("train", "test", "all"))
    assert len(train) + len(test) == len(every) == 60
    assert not {s.seq for s in train} & {s.seq for s in test}
    sample = every[0]
    assert isinstance(sample, Sample) and sample.id == f"{sample.seq}/{sample.clip}/q0"
    assert sample.answer_event and sample.answer_video and sample.truth["agents"] is not None
    assert set(sample.answerable_by) <= {"event", "video"}
    assert every.event_frames(sample).shape == (1, 64, 64, 3)
    assert every.video_frames(sample).shape == (8, 64, 64, 3)
    five = WorldDataset(world, "all", event_frames=5, slicing="count")
    assert five.event_frames(sample).shape == (5, 64, 64, 3)
    clip = every.clip(sample)
    events = read_events(Layout(world).event_npy(sample.seq, sample.clip), (clip["t_start_us"], clip["t_end_us"]))
    assert len(events) == clip["n_events"]
    assert len(corpus(world)) == 3 * 60


def test_event_pngs_are_the_time_slices_of_the_npy(world):
    from xsd.world.frames import event_frames

    ds = WorldDataset(world, "all", event_frames=5)
    sample = ds[0]
    clip = ds.clip(sample)
    window = (clip["t_start_us"], clip["t_end_us"])
    events = read_events(Layout(world).event_npy(sample.seq, sample.clip), window)
    assert (ds.event_frames(sample) == event_frames(events, window, 64, 64, 5, "time")).all()


def test_reference_answers_grade_against_their_facts(world):
    for sample in WorldDataset(world, "all"):
        assert qa.grade(sample.answer_event, sample.facts_event)
        assert qa.grade(sample.answer_video, sample.facts_video)
        assert ("event" in sample.answerable_by) == (sample.facts_event == sample.key_facts)


def test_same_seed_same_bytes_and_resume_after_interruption(world, tmp_path):
    """The fixture's world was built by two processes; this one by one, then resumed."""
    again = tmp_path / "again"
    manifest = build_world(CFG, seed=7, out=again, progress=False, jobs=1)
    assert manifest["last_run"]["sequences_built"] == 3
    assert data_files(again) == data_files(world)
    # interrupt: a sequence half written (meta missing, an npy truncated) and another untouched
    (again / "meta" / "seq0001.json").unlink()
    npy = again / "event_npy" / "seq0001" / "000000.npy"
    npy.write_bytes(npy.read_bytes()[:50])
    manifest = build_world(CFG, seed=7, out=again, progress=False)
    assert manifest["last_run"]["sequences_built"] == 1 and manifest["last_run"]["sequences_reused"] == 2
    assert data_files(again) == data_files(world)


def test_a_sequence_that_cannot_be_built_is_recorded_with_its_reason(tmp_path, monkeypatch):
    from xsd.world import build

    real = build.build_sequence

    def full_disk_on_seq0001(cfg, seed, index, layout, split, fingerprint):
        if index == 1:
            raise OSError(28, "No space left on device")
        return real(cfg, seed, index, layout, split, fingerprint)

    monkeypatch.setattr(build, "build_sequence", full_disk_on_seq0001)
    manifest = build_world(CFG, seed=7, out=tmp_path / "w", progress=False, jobs=1)
    assert manifest["sequences"]["seq0001"] == {"status": "failed",
                                                "reason": "OSError: [Errno 28] No space left on device"}
    assert manifest["sequences"]["seq0000"]["status"] == manifest["sequences"]["seq0002"]["status"] == "ok"
    assert manifest["last_run"]["sequences_built"] == 2


def test_other_seed_other_world_and_no_mixing(world, tmp_path):
    other = tmp_path / "other"
    build_world(CFG, seed=8, out=other, progress=False)
    assert data_files(other) != data_files(world)
    copy = tmp_path / "copy"
    shutil.copytree(world, copy)
    with pytest.raises(ValueError, match="other settings"):
        build_world(CFG, seed=8, out=copy, progress=False)


def test_manifest_reports_throughput_and_event_statistics(world):
    manifest = read_json(Layout(world).manifest)
    assert manifest["last_run"]["simulator_events_per_s"] > 0
    assert manifest["failed"] == [] and manifest["n_samples"] == 60
    assert manifest["stats"]["events_per_clip_by_lighting"]
    assert sum(v["clips"] for v in event_rates_by_lighting(world).values()) == 6
    sizes = size_on_disk(world)
    assert sizes["total"] == sum(v for k, v in sizes.items() if k != "total") > 0


def test_load_clip_for_display(world):
    clip = load_clip(world, "seq0000", "000000")
    assert clip["rgb"].shape == (8, 64, 64, 3) and clip["events"].shape == (5, 64, 64, 3)


def test_check_passes_then_names_each_broken_file(world, tmp_path):
    assert check_root(world, progress=False) == []
    broken = tmp_path / "broken"
    shutil.copytree(world, broken)
    layout = Layout(broken)
    layout.event_npy("seq0000", "000000").write_bytes(b"not an npy")
    png = layout.event_image("seq0000", "000001", 2)
    png.write_bytes(png.read_bytes()[:40])
    layout.event_image("seq0001", "000000", 4).unlink()
    layout.mp4("seq0002").write_bytes(b"\x00" * 100)
    problems = check_root(broken, progress=False)
    for path in (layout.event_npy("seq0000", "000000"), png, layout.event_image("seq0001", "000000", 4),
                 layout.mp4("seq0002")):
        assert any(line.startswith(str(path)) for line in problems), (path, problems)
    assert main(["data", "check", str(broken), "--quiet"]) == 1
    assert main(["data", "check", str(world), "--quiet"]) == 0


def test_dense_targets_follow_each_modalitys_view():
    agents = [
        {"id": 0, "class": "bus", "colour": "red", "direction": "right", "lane": 1, "x_start": 0.4,
         "x_mid": 0.5, "events_time": [50, 0, 50, 50, 50], "events_count": [50] * 5, "rgb_visible": True},
        {"id": 1, "class": "car", "colour": "blue", "direction": "stopped", "lane": 3, "x_start": 0.8,
         "x_mid": 0.8, "events_time": [0] * 5, "events_count": [0] * 5, "rgb_visible": False}]
    truth = {"lighting": "day", "t_start_us": 0, "t_end_us": 1_000_000, "agents": agents}
    ev = dense_targets(truth, 0, "event")
    assert ev["lane_class"].tolist() == [0, 3, 0, 0] and ev["count"] == 1
    assert ev["lane_attr"][1] == 1 + 1                          # "right" is DIRECTIONS[1]
    assert not ev["lighting_mask"]
    assert dense_targets(truth, 1, "event")["count"] == 0       # no events from the bus in slice 1
    rgb = dense_targets(truth, 0, "rgb")
    assert rgb["lane_class"].tolist() == [0, 3, 0, 0] and rgb["lane_attr"][1] == 1   # red is COLOUR_NAMES[0]
    assert rgb["lane_x"][1] == pytest.approx(0.4) and rgb["lighting_mask"]
    assert dense_targets(dict(truth, lighting="night"), 0, "rgb")["attr_mask"].sum() == 0


def test_patch_targets_mark_the_patches_an_agent_covers_with_what_the_frame_shows_of_it():
    """A 4 x 4 grid of 16-pixel patches over a 64-pixel frame: a red bus moving right, its box
    (columns 16-32, rows 40.5-52.5 of lane 1) over patches (2, 1) and (3, 1), and a car no sensor sees."""
    bus = {"id": 0, "class": "bus", "colour": "red", "direction": "right", "lane": 1, "x0": 24.0, "vx": 0.0,
           "growth": 0.0, "size": [16.0, 12.0]}
    car = {"id": 1, "class": "car", "colour": "blue", "direction": "stopped", "lane": 3, "x0": 50.0, "vx": 0.0,
           "growth": 0.0, "size": [10.0, 5.0]}
    scene = {"width": 64, "height": 64, "agents": [bus, car]}
    seen = [{"id": 0, "events_time": [50, 0, 0, 0, 0], "rgb_visible": True},
            {"id": 1, "events_time": [0] * 5, "rgb_visible": False}]
    truth = {"lighting": "day", "t_start_us": 0, "t_end_us": 1_000_000, "agents": seen}
    rgb = patch_targets(scene, truth, 0, "rgb", grid=4)
    shows = rgb["patch_class"].any(1).reshape(4, 4)
    assert np.argwhere(shows).tolist() == [[2, 1], [3, 1]]
    assert rgb["patch_class"][9].tolist() == [0, 0, 1, 0, 0]   # bus is CLASSES[2]
    assert rgb["patch_attr"][9].tolist() == [1, 0, 0, 0, 0, 0]  # red is COLOUR_NAMES[0]
    assert not patch_targets(scene, dict(truth, lighting="night"), 0, "rgb", grid=4)["patch_attr"].any()
    event = patch_targets(scene, truth, 0, "event", grid=4)
    assert event["patch_attr"][9].tolist() == [0, 1, 0, 0, 0]   # "right" is DIRECTIONS[1]
    assert not patch_targets(scene, truth, 1, "event", grid=4)["patch_class"].any()   # no events in slice 1


def test_cli_build_and_help(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["world", "build", "--help"])
    assert exit_info.value.code == 0
    assert main(["world", "build", "--profile", "smoke", "--out", str(tmp_path / "w"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "events/s" in out and "samples" in out
    assert json.loads((tmp_path / "w" / "manifest.json").read_text())["n_clips"] == 8
