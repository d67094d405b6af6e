"""The mini-model glue: training from a world (resumable, deterministic), grading, stage timing,
and the errors a user meets before training."""
import json

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("transformers")

from xsd.config import load_profile  # noqa: E402
from xsd.locations import Locations  # noqa: E402
from xsd.models import mini_tower, mini_training, mini_tuning  # noqa: E402
from xsd.models.mini_sides import SPECS  # noqa: E402
from xsd.models.registry import ModelsNotTrained, load_models  # noqa: E402
from xsd.studies import model_accuracy as evaluate  # noqa: E402
from xsd.studies import stage_timings as timing  # noqa: E402


# -- grading on a hand-labelled set -------------------------------------------------------------------

HAND_LABELLED = [  # (qtype, answer a model might give, key facts, correct?)
    ("count", "There are two road users in the video.", {"count": 2}, True),
    ("count", "I count three road users in the event data.", {"count": 2}, False),
    ("colour", "In the video, the nearest car appears red.", {"class": "car", "colour": "red"}, True),
    ("colour", "The car is blue.", {"class": "car", "colour": "red"}, False),
    ("direction", "In the events, the bus is moving left.", {"class": "bus", "direction": "left"}, True),
    ("direction", "The bus is coming towards the camera.", {"class": "bus", "direction": "left"}, False),
    ("presence", "No, there is no truck in the event stream.", {"class": "truck", "present": False}, True),
    ("presence", "Yes, there is a truck in the video.", {"class": "truck", "present": False}, False),
    ("lighting", "It is night, the scene is dark.", {"lighting": "night"}, True),
    ("objects", "The video shows a car and two buses on the road.", {"classes": ["bus", "car"]}, True),
    ("objects", "Events reveal a car.", {"classes": ["bus", "car"]}, False),
    ("ego_motion", "The camera is stationary.", {"ego_motion": "forward"}, False),
]


def test_class_questions_are_graded_by_how_many_of_the_asked_class_are_in_view():
    records = [{"qtype": "colour", "answer": "The bus is red.", "key_facts": {"class": "bus", "colour": "red"},
                "asked_in_view": "one"},
               {"qtype": "colour", "answer": "The bus is red.", "key_facts": {"class": "bus", "present": False},
                "asked_in_view": "absent"},
               {"qtype": "colour", "answer": "There is no bus.", "key_facts": {"class": "bus", "present": False},
                "asked_in_view": "absent"},
               {"qtype": "count", "answer": "Two.", "key_facts": {"count": 2}, "asked_in_view": None}]
    split = evaluate.grade_answers(records)["by_asked_in_view"]
    assert split == {"absent": {"accuracy": 0.5, "n": 2}, "one": {"accuracy": 1.0, "n": 1}}


def test_the_asked_class_is_counted_in_the_side_s_own_view(smoke_data):
    from xsd.models.registry import built_world
    from xsd.world.dataset import WorldDataset
    from xsd.world.qa import view

    samples = WorldDataset(built_world(smoke_data), "test").samples
    seen = set()
    for sample in samples:
        for side, style in (("draft", "event"), ("target", "video")):
            found = evaluate.asked_in_view(sample, side)
            asked = sample.key_facts.get("class")
            if asked is None:
                assert found is None
                continue
            count = sum(a["class"] == asked for a in view(sample.truth, style)["agents"])
            assert found == evaluate.ASKED_IN_VIEW[min(count, 2)]
            seen.add(found)
    assert {"absent", "one"} <= seen


def test_reference_descriptions_name_each_road_user_in_its_place(smoke_data):
    """Scored road user by road user, the world's own descriptions are right in every place, and
    the same words in another order are not."""
    from xsd.models.registry import built_world
    from xsd.world.dataset import WorldDataset

    samples = [s for s in WorldDataset(built_world(smoke_data), "all").samples if s.qtype == "describe"]
    for side, style in (("draft", "answer_event"), ("target", "answer_video")):
        records = [{"answer": getattr(s, style), "in_view": evaluate.classes_in_view(s, side)} for s in samples]
        order = evaluate.naming_in_order(records)
        assert order and order[0]["road_user"] == 1 and order[0]["n"] > 0
        assert all(row["named"] == 1.0 for row in order)
    in_view = ["bus", "pedestrian"]
    swapped = evaluate.naming_in_order([{"answer": "I can see a pedestrian and a bus.", "in_view": in_view},
                                        {"answer": "A bus, then a pedestrian.", "in_view": in_view},
                                        {"answer": "A bus.", "in_view": in_view}])
    assert swapped == [{"road_user": 1, "named": pytest.approx(2 / 3), "n": 3},
                       {"road_user": 2, "named": pytest.approx(1 / 3), "n": 3}]
    assert evaluate.classes_in_view(next(s for s in WorldDataset(built_world(smoke_data), "all").samples
                                         if s.qtype == "count"), "target") is None


def test_grading_a_hand_labelled_set():
    records = [{"qtype": q, "answer": a, "key_facts": f} for q, a, f, _ in HAND_LABELLED]
    result = evaluate.grade_answers(records)
    expected = {}
    for qtype, _, _, correct in HAND_LABELLED:
        expected.setdefault(qtype, []).append(correct)
    for qtype, hits in expected.items():
        assert result["per_qtype"][qtype] == {"accuracy": pytest.approx(sum(hits) / len(hits)), "n": len(hits)}
    assert result["mean"] == pytest.approx(6 / 12)
    assert result["n"] == 12
    per_type = [sum(h) / len(h) for h in expected.values()]
    assert result["mean_over_types"] == pytest.approx(sum(per_type) / len(per_type))


class FakeSample:
    def __init__(self, qtype, answerable_by, key_facts=None):
        self.qtype, self.answerable_by = qtype, answerable_by
        self.key_facts = {"count": 1} if key_facts is None else key_facts


def test_each_model_is_graded_on_what_its_modality_can_answer():
    samples = [FakeSample("count", ("event", "video")), FakeSample("colour", ("video",)),
               FakeSample("lighting", ("video",)), FakeSample("count", ("event",)),
               FakeSample("count", ("event",)), FakeSample("describe", ("event",), key_facts={})]
    assert [s.qtype for s in evaluate.gradable(samples, "draft")] == ["count", "count", "count"]
    assert [s.qtype for s in evaluate.gradable(samples, "target")] == ["count", "colour", "lighting"]
    assert len(evaluate.gradable(samples, "draft", limit=2)) == 2


# -- stage A targets ------------------------------------------------------------------------------------

def test_mirroring_reverses_positions_and_swaps_left_right_for_events():
    images = np.arange(2 * 1 * 3 * 3, dtype=np.uint8).reshape(2, 1, 3, 3)
    targets = {"lane0_x": torch.tensor([0, 4]), "lane0_attr": torch.tensor([1, 3]),
               "lane1_x": torch.tensor([-100, 1]), "count": torch.tensor([1, 2])}
    flip = np.array([True, True])
    out_images, event = mini_tower.mirrored(images, targets, flip, SPECS["draft"], bins=6)
    assert (out_images[0, 0, :, 0] == images[0, 0, ::-1, 0]).all()
    assert event["lane0_x"].tolist() == [5, 1]
    assert event["lane1_x"].tolist() == [-100, 4]  # not visible stays unsupervised
    assert event["lane0_attr"].tolist() == [2, 3]  # left ↔ right; towards unchanged
    assert event["count"].tolist() == [1, 2]
    _, rgb = mini_tower.mirrored(images, targets, flip, SPECS["target"], bins=6)
    assert rgb["lane0_attr"].tolist() == [1, 3]  # colours do not mirror


def test_frame_targets_mask_what_a_frame_cannot_show():
    truth = {"t_start_us": 0, "t_end_us": 1_000_000, "lighting": "night", "ego_motion": "stationary",
             "agents": [{"class": "car", "colour": "red", "direction": "left", "lane": 1, "x_start": 0.9,
                         "x_mid": 0.8, "rgb_visible": True, "events_time": [50, 0, 0, 0, 0]}]}
    event = mini_tower.frame_targets(truth, 0, SPECS["draft"], bins=6)
    assert event["lane1_class"] == 1 and event["lane1_attr"] == 1 and event["count"] == 1
    assert event["lane0_class"] == 0 and event["lane0_x"] == -100
    assert "lighting" not in event
    assert mini_tower.frame_targets(truth, 1, SPECS["draft"], 6)["count"] == 0
    rgb = mini_tower.frame_targets(truth, 0, SPECS["target"], bins=6)
    assert rgb["lane1_attr"] == -100  # no colour at night
    assert rgb["lighting"] == 2 and rgb["lane1_x"] == 5


def test_tower_accuracy_scores_a_lane_class_on_road_users_and_occupancy_apart():
    """A tower that calls every lane empty is right on the 3 empty lanes of 5, but knows no class."""
    targets = {"lane0_class": torch.tensor([[0], [0], [0], [2], [3]]), "lane0_x": torch.tensor([[-100]] * 3 + [[1], [4]])}

    def says_empty(pixels):
        logits = torch.zeros(len(pixels), 6)
        logits[:, 0] = 1.0
        return {"lane0_class": logits, "lane0_x": nn.functional.one_hot(torch.tensor([0, 0, 0, 1, 4]), 6).float()}

    images = np.zeros((5, 1, 16, 16, 3), dtype=np.uint8)
    accuracy = mini_tower.tower_accuracy(says_empty, images, targets, image_size=16)
    assert accuracy == {"class": 0.0, "occupied": pytest.approx(0.6), "x": 1.0}


def test_tower_accuracy_scores_patch_heads_on_the_patches_that_show_something():
    """Multi-hot patch targets keep their zeros ("not shown"): a head that says exactly what each
    patch shows scores 1.0, and one that says nothing anywhere scores 0.0."""
    shows = torch.zeros(4, 1, 9, 5, dtype=torch.long)
    shows[:, 0, 4, 2] = 1                       # the centre patch of each frame shows class 2
    targets = {"patch_class": shows}
    images = np.zeros((4, 1, 16, 16, 3), dtype=np.uint8)

    def right(pixels):
        return {"patch_class": shows.flatten(0, 1).float() * 2 - 1}

    def silent(pixels):
        return {"patch_class": -torch.ones(len(pixels), 9, 5)}

    assert mini_tower.tower_accuracy(right, images, targets, image_size=16) == {"patch_class": 1.0}
    assert mini_tower.tower_accuracy(silent, images, targets, image_size=16) == {"patch_class": 0.0}


# -- error paths ----------------------------------------------------------------------------------------

def test_untrained_profile_says_which_command_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("XSD_MODELS", str(tmp_path))
    with pytest.raises(ModelsNotTrained, match="xsd models train --profile smoke"):
        load_models(load_profile("smoke"))
    with pytest.raises(ModelsNotTrained, match="xsd models train --profile smoke"):
        evaluate.evaluate_profile(load_profile("smoke"), jobs=1)


def test_eval_and_bench_commands_without_models_fail_clearly(run_xsd, tmp_path):
    env = {"XSD_MODELS": str(tmp_path)}
    for command in (("models", "eval"), ("bench", "stages")):
        done = run_xsd(*command, "--profile", "smoke", env=env)
        assert done.returncode == 1
        assert "xsd models train --profile smoke" in done.stderr


def test_training_without_a_world_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XSD_DATA_ROOT", str(tmp_path))
    with pytest.raises(ModelsNotTrained, match="xsd world build --profile smoke"):
        mini_training.train_pair(load_profile("smoke"), jobs=1, log=lambda _: None)


# -- end to end on a smoke world -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke_world(tmp_path_factory):
    from xsd import paths
    from xsd.world.build import build_world

    root = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XSD_DATA_ROOT", str(root))
        profile = load_profile("smoke")
        build_world(profile.world, profile.seed, paths.world_dir("smoke"), progress=False)
    return root


def test_a_stage_another_process_runs_is_busy_to_a_process_that_does_not_wait(tmp_path):
    from xsd.models.mini_sides import BUSY, exclusive, run_once

    ran = []

    def run(folder, stop):
        ran.append(folder)
        return {"steps": 1}

    with exclusive(tmp_path / "tower.lock"):   # held through another open file, as by another process
        assert run_once(tmp_path / "tower", "tower", run, None, wait=False) == BUSY
    assert ran == []
    assert run_once(tmp_path / "tower", "tower", run, None, wait=False)["steps"] == 1
    assert run_once(tmp_path / "tower", "tower", run, None)["steps"] == 1 and len(ran) == 1   # found done
    assert (tmp_path / "tower" / "done.json").is_file()


def saved_weights(directory):
    from safetensors.torch import load_file

    return {side: load_file(next((directory / side).glob("*.safetensors"))) for side in ("draft", "target")}


@pytest.mark.slow
def test_interrupted_training_resumes_to_the_same_pair_and_it_runs(smoke_world, tmp_path, monkeypatch):
    monkeypatch.setenv("XSD_DATA_ROOT", str(smoke_world))
    profile = load_profile("smoke")
    quiet = {"jobs": 1, "log": lambda _: None}

    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "whole"))
    report = mini_training.train_pair(profile, **quiet)
    whole = saved_weights(Locations(profile).checkpoint)

    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "parts"))
    assert mini_training.train_pair(profile, stop_after=("tower", 10), **quiet) == {}
    assert mini_training.train_pair(profile, stop_after=("tune", 10), **quiet) == {}
    with pytest.raises(ModelsNotTrained):
        load_models(profile)
    mini_training.train_pair(profile, **quiet)
    directory = Locations(profile).checkpoint
    parts = saved_weights(directory)
    for side in whole:
        assert whole[side].keys() == parts[side].keys()
        for name, value in whole[side].items():
            assert torch.equal(value, parts[side][name]), (side, name)

    written = json.loads((directory / "training.json").read_text())
    assert set(written["sides"]) == {"draft", "target"}
    assert report["peak_rss_mb"]["draft"] > 0 and report["sides"]["target"]["seconds"] > 0

    pair = load_models(profile)
    result = evaluate.evaluate_profile(profile, limit=2, jobs=1)
    for side in ("draft", "target"):
        assert 0 <= result[side]["mean"] <= 1 and result[side]["n"] > 0
        assert all(isinstance(e["answer"], str) for e in result[side]["examples"])
        described = result[side]["per_qtype"]["describe"]["n"]   # the descriptions, some with no road user in view
        assert all(0 <= row["named"] <= 1 and row["n"] <= described for row in result[side]["describe_order"])

    timings = timing.profile_stage_timings(profile, repeats=2, warmup=1, decode_tokens=3)
    for side in ("draft", "target"):
        stages = timings[side]
        for key in ("vision", "projector", "prefill", "decode_per_token", "prefill_with_vision"):
            assert stages[key] > 0, (side, key)
    assert timings["target"]["visual_tokens"] == 8 * 17 and timings["draft"]["visual_tokens"] == 1 + 17
    assert timings["c"] > 0 and timings["prefill_ratio"] > 0 and timings["threads"] == 1
    frames = timings["frames"]
    assert frames["target"]["1_frames"]["visual_tokens"] == 17
    assert frames["target"]["8_frames"]["visual_tokens"] == 136
    assert frames["draft"]["5_frames"]["visual_tokens"] == 5 + 17
    assert pair.draft.config.text_config.num_hidden_layers == pair.target.config.text_config.num_hidden_layers


def test_interleaved_timers_keep_their_ratio_on_a_machine_that_slows_down():
    """A machine twice as slow by the end: timed in rounds, a run that costs twice another still
    measures twice; timed one after the other, its median would take the later, slower half."""
    calls = []

    def timer(cost):
        def run():
            calls.append(cost)
            return cost * (1 + len(calls) / 40)   # the machine slows with every call
        return run

    medians = timing.interleaved_medians({"cheap": timer(1.0), "dear": timer(2.0)}, repeats=20, warmup=1)
    assert len(calls) == 2 * 21 and calls[:2] == [1.0, 2.0]   # warm-up, then one of each per round
    assert calls[2:4] == [1.0, 2.0] and calls[4:6] == [2.0, 1.0]  # each round starts one further along
    assert medians["dear"] / medians["cheap"] == pytest.approx(2.0, rel=0.03)
    one_after_the_other = [timer(1.0)() for _ in range(20)], [timer(2.0)() for _ in range(20)]
    sequential = np.median(one_after_the_other[1]) / np.median(one_after_the_other[0])
    assert abs(sequential - 2.0) > 0.2   # what the rounds protect against


def test_mirroring_swaps_the_motion_of_a_clip_for_rgb_too():
    images = np.zeros((2, 2, 1, 3, 3), dtype=np.uint8)
    images[:, :, :, 0] = 7
    targets = {"lane0_motion": torch.tensor([[1], [3]]), "lane0_x": torch.tensor([[0, 1], [2, 3]]),
               "count": torch.tensor([[1, 1], [0, 0]])}
    out_images, out = mini_tower.mirrored(images, targets, np.array([True, False]),
                                             SPECS["target"], bins=6)
    assert (out_images[0, :, :, 2] == 7).all() and (out_images[1, :, :, 0] == 7).all()
    assert out["lane0_motion"].tolist() == [[2], [3]]
    assert out["lane0_x"].tolist() == [[5, 4], [2, 3]]
    assert out["count"].tolist() == [[1, 1], [0, 0]]


def test_mirroring_mirrors_patch_grids_and_swaps_left_right_for_events():
    """Patch targets [n, frames, grid², c] mirror as their image does: column j becomes grid - 1 - j."""
    grid = np.zeros((1, 1, 2, 2, 5), dtype=np.uint8)
    grid[0, 0, 1, 0, 0] = 1       # bottom-left patch: an agent moving left (DIRECTIONS[0])
    targets = {"patch_attr": torch.from_numpy(grid.reshape(1, 1, 4, 5)),
               "patch_class": torch.from_numpy(grid.reshape(1, 1, 4, 5))}
    images = np.zeros((1, 1, 2, 2, 3), dtype=np.uint8)
    _, event = mini_tower.mirrored(images, targets, np.array([True]), SPECS["draft"], bins=6)
    assert event["patch_attr"][0, 0, 3].tolist() == [0, 1, 0, 0, 0]   # bottom-right, moving right
    assert event["patch_class"][0, 0, 3].tolist() == [1, 0, 0, 0, 0]  # a class does not swap
    assert not event["patch_attr"][0, 0, :3].any()
    _, rgb = mini_tower.mirrored(images, targets, np.array([True]), SPECS["target"], bins=6)
    assert rgb["patch_attr"][0, 0, 3].tolist() == [1, 0, 0, 0, 0]     # colours do not swap
    _, kept = mini_tower.mirrored(images, targets, np.array([False]), SPECS["draft"], bins=6)
    assert torch.equal(kept["patch_attr"], targets["patch_attr"])


def test_sample_targets_give_rgb_motion_per_clip_and_none_for_events():
    truth = {"t_start_us": 0, "t_end_us": 1_000_000, "lighting": "day", "ego_motion": "stationary",
             "agents": [{"class": "bus", "colour": "red", "direction": "away", "lane": 2, "x_start": 0.5,
                         "x_mid": 0.5, "rgb_visible": True, "events_time": [0, 0, 0, 0, 0]}]}
    rgb = mini_tower.sample_targets(truth, (0, 7), SPECS["target"], bins=6)
    assert rgb["lane2_motion"] == [4] and rgb["lane0_motion"] == [-100]
    assert rgb["lane2_class"] == [3, 3]
    event = mini_tower.sample_targets(truth, (0,), SPECS["draft"], bins=6)
    assert not any(name.endswith("motion") for name in event) and event["count"] == [0]


def test_tuning_scenes_come_with_questions_answered_from_the_sides_own_view():
    from xsd.world import qa
    from xsd.world.scene import COLOURS

    profile = load_profile("smoke")
    for side, shape in (("draft", (1, 64, 64, 3)), ("target", (8, 64, 64, 3))):
        spec = SPECS[side]
        scenes = list(mini_tuning.scene_conversations(profile, spec))
        assert [key for key, *_ in scenes] == [f"pretraining/{i}" for i in range(profile.models.train.tune_scenes)]
        for key, frames, turns, caption in scenes:
            assert frames.shape == shape and len(turns) == len(qa.QTYPES) and caption.startswith("Seen: ")
            if side == "draft":  # the event style: no colour, no lighting
                words = caption.replace(".", " ").replace(";", " ").split()
                assert not any(colour in answer.split() + words for _, answer in turns for colour in COLOURS)
        again = list(mini_tuning.scene_conversations(profile, spec))
        assert [t[2:] for t in again] == [t[2:] for t in scenes]
