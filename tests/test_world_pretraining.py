"""Pretraining scenes: deterministic, disjoint from the world's scenes, generated as the world is."""
import json

import numpy as np
import pytest

from xsd.config import load_profile
from xsd.world import pretraining as P
from xsd.world.build import build_world
from xsd.world.dataset import WorldDataset
from xsd.world.targets import dense_targets


@pytest.fixture(scope="module")
def smoke():
    return load_profile("smoke")


def test_the_same_index_gives_the_same_clip(smoke):
    for modality in P.MODALITIES:
        a = P.pretraining_clip(smoke.world, smoke.seed, 3, modality, event_slices=1)
        b = P.pretraining_clip(smoke.world, smoke.seed, 3, modality, event_slices=1)
        assert np.array_equal(a["frames"], b["frames"]) and a["truth"] == b["truth"]


def test_shapes_and_truth_follow_the_modality(smoke):
    cfg = smoke.world
    event = P.pretraining_clip(cfg, smoke.seed, 0, "event", event_slices=2)
    assert event["frames"].shape == (2, cfg.height, cfg.width, 3) and event["frames"].dtype == np.uint8
    for agent in event["truth"]["agents"]:
        assert len(agent["events_time"]) == 2 and "events_count" not in agent
    dense_targets(event["truth"], 1, "event")
    rgb = P.pretraining_clip(cfg, smoke.seed, 0, "rgb", video_frames=(0, 7))
    assert rgb["frames"].shape == (2, cfg.height, cfg.width, 3)
    assert all("event_visible" not in a for a in rgb["truth"]["agents"])
    dense_targets(rgb["truth"], 7, "rgb")


def test_seeds_are_disjoint_from_every_world(smoke):
    """Pretraining scene j is sequence PRETRAINING_OFFSET + j: no world has that many sequences,
    and the scenes differ from the world's first sequences."""
    world = [P.sequence_clip(smoke.world, smoke.seed, i, 0, "rgb")["truth"] for i in range(4)]
    extra = [P.pretraining_clip(smoke.world, smoke.seed, j * smoke.world.clips_per_sequence, "rgb")["truth"]
             for j in range(4)]
    assert not any(e == w for e in extra for w in world)
    too_big = type(smoke.world)(**{**smoke.world.__dict__, "n_sequences": P.PRETRAINING_OFFSET + 1})
    with pytest.raises(ValueError, match="share seeds"):
        P.pretraining_clip(too_big, 0, 0, "rgb")


def test_a_world_sequence_regenerated_in_memory_matches_the_built_one(smoke, tmp_path):
    """The generator path is the world's: truth and frames of a built clip come back (frames up
    to camera and sensor noise, drawn differently)."""
    build_world(smoke.world, smoke.seed, tmp_path, progress=False)
    dataset = WorldDataset(tmp_path, "all", event_frames=1)
    sample = next(s for s in dataset if s.clip == "000000")
    index = int(sample.seq.removeprefix("seq"))
    rgb = P.sequence_clip(smoke.world, smoke.seed, index, 0, "rgb")
    assert [a["rgb_visible"] for a in rgb["truth"]["agents"]] == [a["rgb_visible"] for a in sample.truth["agents"]]
    assert np.abs(rgb["frames"].astype(int) - dataset.video_frames(sample).astype(int)).mean() < 8
    event = P.sequence_clip(smoke.world, smoke.seed, index, 0, "event", event_slices=1)
    for ours, built in zip(event["truth"]["agents"], sample.truth["agents"]):
        assert ours["events_time"][0] == pytest.approx(built["events_time"][0], rel=0.1, abs=3)


def test_a_world_sequences_scene_is_drawn_again_without_rendering(smoke, tmp_path):
    build_world(smoke.world, smoke.seed, tmp_path, progress=False)
    meta = sorted((tmp_path / "meta").glob("*.json"))[0]
    built = json.loads(meta.read_text())
    again = P.sequence_scene(smoke.world, smoke.seed, int(built["seq"].removeprefix("seq")))
    assert json.loads(json.dumps(again)) == built["scene"]


def test_bad_arguments_are_refused(smoke):
    with pytest.raises(ValueError, match="modality"):
        P.pretraining_clip(smoke.world, 0, 0, "depth")
    with pytest.raises(ValueError, match="event_slices"):
        P.pretraining_clip(smoke.world, 0, 0, "event", event_slices=6)
