"""Scenes, rendering, questions and answers of the mini world."""
import numpy as np
import pytest

from xsd.world import qa, scene as S
from xsd.world.render import render, rgb_camera


def scenes(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return [S.sample_scene(rng, 64, 64, 2.0) for _ in range(n)]


def test_scene_is_deterministic_from_its_seed():
    assert S.sample_scene(np.random.default_rng(5), 64, 64, 2.0) == S.sample_scene(np.random.default_rng(5), 64, 64, 2.0)


def test_every_colour_has_clear_luminance_contrast_to_the_road():
    # events see luminance only: each colour must cross the 0.2 threshold several times
    assert min(S.luminance_contrast(c) for c in S.COLOURS) > 3 * 0.2


def test_agents_stay_in_view_for_the_whole_sequence():
    for scene in scenes():
        assert len(scene["agents"]) <= S.N_LANES
        for agent in scene["agents"]:
            left, top, w, h = S.agent_box(agent, np.linspace(0, 2.0, 21), 64)
            assert (left >= 0).all() and (left + w <= 64).all() and (top >= 0).all()


def test_render_shapes_and_agent_masks():
    scene = next(s for s in scenes() if s["agents"])
    radiance, owner = render(scene, np.linspace(0, 1, 5))
    assert radiance.shape == (5, 64, 64, 3) and owner.shape == (5, 64, 64)
    assert set(np.unique(owner)) - {-1} == {a["id"] for a in scene["agents"]}
    frame = rgb_camera(radiance, scene["lighting"], np.random.default_rng(0))
    assert frame.dtype == np.uint8


def test_night_frames_are_darker_and_noisier_than_day():
    day, night = (dict(scenes(1)[0], lighting=light) for light in ("day", "night"))
    radiance_day, _ = render(day, [0.0])
    radiance_night, _ = render(night, [0.0])
    assert radiance_night.mean() < 0.2 * radiance_day.mean()


def truth(lighting="day", agents=None):
    agents = agents if agents is not None else [
        {"id": 0, "class": "car", "colour": "red", "direction": "left", "lane": 0, "speed": 9.0,
         "x_start": 0.5, "x_mid": 0.45, "x_event": 0.48, "events_time": [40, 30, 30, 30, 30],
         "events_count": [40] * 5, "event_visible": True, "rgb_snr": 30.0, "rgb_visible": True},
        {"id": 1, "class": "pedestrian", "colour": "blue", "direction": "stopped", "lane": 2, "speed": 0.0,
         "x_start": 0.1, "x_mid": 0.1, "x_event": 0.1, "events_time": [0] * 5, "events_count": [0] * 5,
         "event_visible": False, "rgb_snr": 12.0, "rgb_visible": lighting != "night"}]
    return {"lighting": lighting, "ego_motion": "stationary", "t_start_us": 0, "t_end_us": 1_000_000,
            "agents": agents, "n_events": 300, "n_noise_events": 10}


def test_ten_questions_one_per_type():
    questions = qa.make_questions(truth(), np.random.default_rng(0))
    assert [q["qtype"] for q in questions] == list(qa.QTYPES) and len(questions) == 10


@pytest.mark.parametrize("lighting", ["day", "dusk", "night"])
def test_reference_answers_state_their_views_facts(lighting):
    for seed in range(30):
        for q in qa.make_questions(truth(lighting), np.random.default_rng(seed)):
            assert qa.grade(q["answer_event"], q["facts_event"]), (q["answer_event"], q["facts_event"])
            assert qa.grade(q["answer_video"], q["facts_video"]), (q["answer_video"], q["facts_video"])


def test_answers_are_restricted_to_what_each_modality_observes():
    by_type = {q["qtype"]: q for q in qa.make_questions(truth("night"), np.random.default_rng(0))}
    assert by_type["count"]["facts_event"] == {"count": 1}          # the stopped pedestrian makes no events
    assert by_type["count"]["facts_video"] == {"count": 1}          # and is lost in the dark for RGB
    assert by_type["count"]["key_facts"] == {"count": 2}
    assert by_type["lighting"]["facts_event"] == {"lighting": None}
    assert by_type["lighting"]["answerable_by"] == ["video"]
    for q in by_type.values():
        assert not any(colour in q["answer_event"].lower().split() for colour in S.COLOURS)


@pytest.mark.parametrize("lighting", ["day", "night"])
def test_one_views_questions_state_that_views_facts(lighting):
    for seed in range(20):
        for style in qa.STYLES:
            questions = qa.view_questions(truth(lighting), style, np.random.default_rng(seed))
            assert [q["qtype"] for q in questions] == list(qa.QTYPES)
            for q in questions:
                assert qa.grade(q["answer"], q["facts"]), (q["answer"], q["facts"])
                assert q["facts"] == qa.facts(q["qtype"], qa.view(truth(lighting), style), q["facts"].get("class"))


def test_one_views_questions_need_only_that_sensors_truth():
    """A scene rendered for the camera alone has no event fields; its video questions still work."""
    rgb_only = truth("day")
    for agent in rgb_only["agents"]:
        for key in ("events_time", "events_count", "event_visible"):
            del agent[key]
    by_type = {q["qtype"]: q for q in qa.view_questions(rgb_only, "video", np.random.default_rng(0))}
    assert by_type["count"]["facts"] == {"count": 2} and "two road users" in by_type["count"]["answer"]
    event = {q["qtype"]: q for q in qa.view_questions(truth("day"), "event", np.random.default_rng(0))}
    assert event["count"]["facts"] == {"count": 1} and event["lighting"]["facts"] == {"lighting": None}


def test_colour_needs_light():
    agent = truth()["agents"][:1]
    seed = next(s for s in range(50) if "car" in
                qa.make_questions(truth("day", agent), np.random.default_rng(s))[6]["question"])
    day = {q["qtype"]: q for q in qa.make_questions(truth("day", agent), np.random.default_rng(seed))}
    night = {q["qtype"]: q for q in qa.make_questions(truth("night", agent), np.random.default_rng(seed))}
    assert day["colour"]["facts_video"]["colour"] == "red" and "video" in day["colour"]["answerable_by"]
    assert night["colour"]["facts_video"]["colour"] is None and night["colour"]["answerable_by"] == []


def test_the_two_styles_differ_and_vary():
    answers = {"event": set(), "video": set()}
    for seed in range(20):
        for q in qa.make_questions(truth(), np.random.default_rng(seed)):
            if q["qtype"] == "count":
                answers["event"].add(q["answer_event"])
                answers["video"].add(q["answer_video"])
    assert len(answers["event"]) > 1 and len(answers["video"]) > 1
    assert not answers["event"] & answers["video"]


def test_grade_rejects_wrong_facts():
    assert qa.grade("There are two cars in the video.", {"class": "car", "count": 2})
    assert not qa.grade("There are three cars in the video.", {"class": "car", "count": 2})
    assert not qa.grade("The car is moving left.", {"class": "car", "direction": "right"})
    assert not qa.grade("It is night.", {"lighting": "day"})
    assert not qa.grade("anything", {})


def test_every_answer_says_what_the_view_shows_of_the_scene():
    """Beyond the asked fact, an answer names road users its view sees (colour only where the view
    has it); the answers about the whole scene name every one of them."""
    whole_scene = ("describe", "objects", "count", "lighting", "ego_motion")
    for seed in range(10):
        for q in qa.make_questions(truth("day"), np.random.default_rng(seed)):
            video, event = q["answer_video"].lower(), q["answer_event"].lower()
            assert "car" in video or "pedestrian" in video, q
            assert len(video.split()) > 6 + len(q["question"].split()) // 3, q
            assert "car" in event or "pedestrian" in q["question"], q   # the pedestrian makes no events
            if q["qtype"] in whole_scene:
                assert "red car" in video and "blue pedestrian" in video, q


def test_answers_change_with_an_agent_the_question_does_not_ask_about():
    other = [dict(truth()["agents"][0]), dict(truth()["agents"][1], direction="left", speed=5.0)]
    for seed in range(10):
        plain = qa.make_questions(truth("day"), np.random.default_rng(seed))
        moved = qa.make_questions(truth("day", other), np.random.default_rng(seed))
        changed = [a["qtype"] for a, b in zip(plain, moved) if a["answer_video"] != b["answer_video"]]
        assert {"count", "lighting", "ego_motion", "describe"} <= set(changed), changed


def test_video_answers_are_longer_than_the_asked_fact():
    lengths = [len(q["answer_video"].split()) for seed in range(20)
               for q in qa.make_questions(truth("day"), np.random.default_rng(seed))]
    assert np.mean(lengths) > 15
