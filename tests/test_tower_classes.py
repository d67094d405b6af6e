"""What a tower's stage-A heads make of the test clips' road users (xsd.studies.tower_classes):
the class and a fact right together, class accuracy by what a frame shows, and the measurement
on a trained smoke pair."""
import pytest
import torch

pytest.importorskip("transformers")

from xsd.models.train import IGNORE  # noqa: E402
from xsd.studies import tower_classes  # noqa: E402


def one_hot(indices, classes):
    return torch.nn.functional.one_hot(torch.tensor(indices), classes).float()


def test_a_fact_counts_only_with_its_road_users_class_right():
    # one lane, four frames: road users in frames 0-2 (class right in 0 and 1), frame 3 empty
    flat = {"lane0_class": torch.tensor([1, 2, 3, 0]), "lane0_attr": torch.tensor([1, 1, 2, IGNORE])}
    logits = {"lane0_class": one_hot([1, 2, 1, 0], 6), "lane0_attr": one_hot([1, 2, 2, 1], 4)}
    # frame 0: both right; frame 1: class right, attr wrong; frame 2: attr right, class wrong
    assert tower_classes.joint_accuracy(logits, flat, frames_per_clip=1) == {"class+attr": pytest.approx(1 / 3)}


def test_a_clips_motion_is_set_against_each_of_its_frames_class():
    flat = {"lane0_class": torch.tensor([1, 1, 2, 2]), "lane0_motion": torch.tensor([3, 1])}
    logits = {"lane0_class": one_hot([1, 5, 2, 2], 6), "lane0_motion": one_hot([3, 2], 5)}
    # clip 0: motion right, class right in one of its two frames; clip 1: motion wrong
    assert tower_classes.joint_accuracy(logits, flat, frames_per_clip=2) == {"class+motion": 0.25}


def test_class_accuracy_is_binned_by_the_events_a_road_user_made_in_the_frames_slice():
    scene = {"lighting": "day", "agents": [{"lane": 0, "events_time": [7, 30, 500, 0, 0]}]}
    frames = [(scene, 0), (scene, 1), (scene, 2)]
    flat = {"lane0_class": torch.tensor([4, 4, 4])}
    logits = {"lane0_class": one_hot([0, 4, 4], 6)}
    assert tower_classes.by_evidence(logits, flat, frames, "event") == {
        "5-19 events": {"right": 0, "road_users": 1}, "20-79 events": {"right": 1, "road_users": 1},
        "80+ events": {"right": 1, "road_users": 1}}
    by_light = tower_classes.by_evidence(logits, flat, frames, "rgb")
    assert by_light["day"] == {"right": 2, "road_users": 3} and by_light["night"]["road_users"] == 0


def test_patch_heads_are_not_taken_for_lanes():
    # a tower trained with patch heads also has `patch_class`, whose name ends in `_class` too
    flat = {"lane0_class": torch.tensor([1, 2]), "lane1_class": torch.tensor([0, 3]),
            "patch_class": torch.zeros(2, 16, 5, dtype=torch.uint8)}
    logits = {"lane0_class": one_hot([1, 1], 6), "lane1_class": one_hot([0, 3], 6),
              "patch_class": torch.zeros(2, 16, 5)}
    assert tower_classes.lane_heads(flat) == [0, 1]
    table = tower_classes.confusion(logits, flat)
    assert table["car"]["car"] == 1 and table["truck"]["car"] == 1 and table["bus"]["bus"] == 1


@pytest.mark.parametrize("side", ["draft", "target"])
def test_the_trained_smoke_towers_heads_are_measured_on_every_test_road_user(smoke_data, side):
    from xsd.models import mini_tower
    from xsd.models.mini_sides import SPECS

    result = tower_classes.tower_classes(smoke_data, side)
    _, targets = mini_tower.tower_data(smoke_data, SPECS[side], "test")
    road_users = sum(int((value > 0).sum()) for name, value in targets.items() if name.endswith("_class"))
    assert road_users > 0
    assert sum(sum(row.values()) for row in result["confusion"].values()) == road_users
    assert sum(cell["road_users"] for cell in result["by_evidence"].values()) == road_users
    right = sum(result["confusion"][name][name] for name in result["confusion"])
    assert sum(cell["right"] for cell in result["by_evidence"].values()) == right
    expected = {"class+attr", "class+x"} | ({"class+motion"} if side == "target" else set())
    assert set(result["joint"]) == expected
    assert all(0.0 <= value <= 1.0 for value in result["joint"].values())     # NaN fails too


def test_a_missing_stage_a_checkpoint_is_named(smoke_data, monkeypatch):
    from xsd.locations import Locations

    path = Locations(smoke_data).checkpoint / "draft_tower" / "state.pt"
    moved = path.with_suffix(".moved")
    path.rename(moved)
    try:
        with pytest.raises(FileNotFoundError, match="draft_tower/state.pt: no stage-A checkpoint"):
            tower_classes.tower_classes(smoke_data, "draft")
    finally:
        moved.rename(path)
