"""Reading the question: class questions about any class, stage C's resampled class questions,
and the question-following measure."""
import numpy as np
import pytest
import torch

from xsd.studies import question_following as qf
from xsd.world import qa
from xsd.world.scene import CLASSES

TRUTH = {"agents": [
    {"class": "car", "colour": "red", "lane": 0, "direction": "left", "x_mid": 0.2, "x_event": 0.2,
     "rgb_visible": True, "event_visible": True},
    {"class": "car", "colour": "blue", "lane": 1, "direction": "right", "x_mid": 0.8, "x_event": 0.8,
     "rgb_visible": True, "event_visible": True},
    {"class": "bus", "colour": "white", "lane": 2, "direction": "away", "x_mid": 0.5, "x_event": 0.5,
     "rgb_visible": True, "event_visible": False},
], "lighting": "day", "ego_motion": "stationary"}


@pytest.mark.parametrize("style", qa.STYLES)
def test_a_class_question_about_any_class_is_answered_from_the_view(style):
    for qtype in qa.CLASS_QTYPES:
        for cls in CLASSES:
            question, answer = qa.ask_about(qtype, cls, TRUTH, style, np.random.default_rng(0))
            assert cls in question or qa.PLURAL[cls] in question
            assert qa.names_class(answer, cls), (qtype, cls, answer)
            expected = qa.facts(qtype, qa.view(TRUTH, style), cls)
            if expected.get(qtype, True) is not None:  # a view that cannot tell (no colour in events)
                assert qa.grade(answer, expected), (qtype, cls, answer)
    assert qa.ask_about("colour", "car", TRUTH, "video", np.random.default_rng(0))[0] == "What colour is the nearest car?"
    assert qa.ask_about("colour", "bus", TRUTH, "video", np.random.default_rng(0), template=1)[0] == \
        "What is the colour of the bus?"


def test_names_class_matches_whole_words_singular_or_plural():
    assert qa.names_class("There are no buses here.", "bus")
    assert qa.names_class("The Car is red.", "car")
    assert not qa.names_class("The carriage is red.", "car")


def test_following_counts_named_classes_and_distinct_answers():
    copied = {(q, c): f"The {c} is here." for q in qa.CLASS_QTYPES for c in CLASSES}
    same = {(q, c): "The car is here." for q in qa.CLASS_QTYPES for c in CLASSES}
    read, ignored = qf.summarise([qf.following(copied)]), qf.summarise([qf.following(same)])
    for qtype in qa.CLASS_QTYPES:
        assert read[qtype] == {"names_asked_class": 1.0, "distinct_answers": 1.0, "answers": len(CLASSES)}
        assert ignored[qtype]["names_asked_class"] == pytest.approx(1 / len(CLASSES))
        assert ignored[qtype]["distinct_answers"] == pytest.approx(1 / len(CLASSES))


def test_stage_c_resamples_only_class_questions_and_deterministically(smoke_data):
    from xsd.models.mini_sides import SPECS
    from xsd.models.mini_tuning import class_resampler, conversations_of_step
    from xsd.models.registry import built_world
    from xsd.world.dataset import WorldDataset

    samples = list(WorldDataset(built_world(smoke_data), "train"))
    key = f"{samples[0].seq}/{samples[0].clip}"
    clip = [s for s in samples if f"{s.seq}/{s.clip}" == key]
    qa_pairs = [[(s.question, s.answer_video) for s in clip], [("Is it day?", "Yes.")]]
    keys, features = [key, "pretraining/0"], {key: torch.zeros(1, 2, 4), "pretraining/0": torch.zeros(1, 2, 4)}
    resample = class_resampler(smoke_data, SPECS["target"])
    asked = set()
    for step in range(30):
        batch = conversations_of_step(keys, qa_pairs, features, 10, 2, 0, step, resample=resample)
        again = conversations_of_step(keys, qa_pairs, features, 10, 2, 0, step, resample=resample)
        assert [c.turns for c in batch] == [c.turns for c in again]
        for conversation in batch:
            if len(conversation.turns) == 1:  # the pretraining scene is left as it is
                assert conversation.turns == qa_pairs[1]
                continue
            by_question = dict(conversation.turns)
            for sample in clip:
                if sample.qtype not in qa.CLASS_QTYPES:
                    assert by_question[sample.question] == sample.answer_video
            for question, answer in conversation.turns:
                named = [c for c in CLASSES if c in question or qa.PLURAL[c] in question]
                if named:
                    assert qa.names_class(answer, named[-1])
                    asked.add(named[-1])
    assert asked == set(CLASSES)  # every class is drawn, not only those the world asked about


def synthetic_result(draft_named: str, target_named: str) -> dict:
    def side(answer_of):
        answers = {(q, c): answer_of(c) for q in qa.CLASS_QTYPES for c in CLASSES}
        reference = {(q, c): f"The {c}." for q in qa.CLASS_QTYPES for c in CLASSES}
        return {"model": qf.summarise([qf.following(answers)]), "reference": qf.summarise([qf.following(reference)])}
    return {"draft": side(lambda c: f"The {c}." if draft_named == "asked" else "The car."),
            "target": side(lambda c: f"The {c}." if target_named == "asked" else "The car.")}


def test_the_reading_follows_the_measured_shares():
    from xsd.studies import world_models

    result = synthetic_result("asked", "car")
    table = world_models.question_following_table(result)
    assert table.loc[("draft", "colour"), "names asked class"] == 1.0
    assert table.loc[("target", "colour"), "names asked class"] == pytest.approx(0.2)
    assert (table["reference"] == 1.0).all()
    text = "\n".join(world_models.question_following_reading(result))
    assert "The draft names the class it was asked about in 100% of its answers" in text
    assert "draft names the class it was asked about in 100% of its answers (its reference answers: 100%" in text
    assert "The target names the class it was asked about in 20%" in text and "answers mostly from the clip" in text
    flipped = "\n".join(world_models.question_following_reading(synthetic_result("car", "asked")))
    assert "The target names the class it was asked about in 100%" in flipped


@pytest.mark.slow
def test_both_models_are_asked_about_every_class(smoke_data):
    found = qf.question_following(smoke_data, n_clips=2, jobs=1)
    for side in ("draft", "target"):
        assert found[side]["clips"] == 2
        for qtype in qa.CLASS_QTYPES:
            model, reference = found[side]["model"][qtype], found[side]["reference"][qtype]
            assert model["answers"] == reference["answers"] == 2 * len(CLASSES)
            assert 0 <= model["names_asked_class"] <= 1 and 0 < model["distinct_answers"] <= 1
            assert reference["names_asked_class"] == 1.0
        assert len(found[side]["examples"]) == len(CLASSES)


def test_resampling_keys_the_checkpoint_only_when_set(smoke_data, with_train):
    from xsd.locations import Locations

    assert "resample_classes" not in repr(smoke_data.models.train)
    resampled = with_train(smoke_data, resample_classes=True)
    assert "resample_classes=True" in repr(resampled.models.train)
    assert Locations(resampled).checkpoint != Locations(smoke_data).checkpoint
