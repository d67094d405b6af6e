"""Teacher-forced fact choice: which filled-in answer a model finds likeliest."""
from dataclasses import dataclass, field

import pytest
import torch

from xsd.studies import fact_choice


@dataclass
class FakeSample:
    qtype: str
    facts_video: dict
    answer_video: str
    facts_event: dict = field(default_factory=dict)
    answer_event: str = ""
    question: str = "What colour is the car?"


def test_events_offer_no_colour_and_each_style_its_own_phrases():
    assert "colour" not in fact_choice.alternatives("draft")
    assert set(fact_choice.alternatives("target")["colour"]) >= {"red", "blue", "grey"}
    assert fact_choice.alternatives("draft")["direction"]["towards"] == "coming towards the camera"
    assert fact_choice.alternatives("target")["direction"]["towards"] == "approaching the camera"


def test_only_samples_whose_answer_states_the_fact_once_are_choosable():
    assert fact_choice.choosable(FakeSample("colour", {"colour": "red"}, "The car is red."), "target")
    assert not fact_choice.choosable(FakeSample("colour", {"colour": None}, "I cannot tell."), "target")
    assert not fact_choice.choosable(FakeSample("count", {"count": 2}, "Two cars."), "target")
    assert not fact_choice.choosable(FakeSample("colour", {"colour": "red"}, "The car is red."), "draft")


def test_the_choice_is_the_value_whose_filled_in_answer_scores_highest(monkeypatch):
    scored = []

    def likelihoods(pair, side, inputs, answers):
        scored.extend(answers)
        return [0.0 if "blue" in answer else -5.0 for answer in answers]

    class Pair:
        def sample_inputs(self, side, dataset, sample):
            return {}

    monkeypatch.setattr(fact_choice, "answer_log_likelihoods", likelihoods)
    sample = FakeSample("colour", {"colour": "red"}, "In the video, the car appears red.")
    assert fact_choice.choose(Pair(), "target", None, sample) == "blue"
    assert "In the video, the car appears red." in scored and "In the video, the car appears green." in scored
    assert len(scored) == len(fact_choice.alternatives("target")["colour"])


@pytest.mark.slow
def test_the_likelihood_is_the_models_own_answer_loss(smoke_data):
    """log p(answer) summed over its tokens equals minus the tuning loss times its token count, also
    beside a shorter answer in the same batch."""
    from xsd.models import train
    from xsd.models.pixels import clip_pixels
    from xsd.models.registry import built_world, load_models
    from xsd.world.dataset import WorldDataset

    pair = load_models(smoke_data)
    dataset = WorldDataset(built_world(smoke_data), "test", event_frames=1)
    sample = dataset.samples[0]
    model = pair.target
    pixels = clip_pixels(dataset.video_frames(sample), model.config.vision_config.image_size)
    with torch.no_grad():
        features = model.model.video_tower(pixels, output_hidden_states=True).hidden_states[-2]
        batch = train.tuning_batch(model, pair.target_tokenizer, "target",
                                   [train.Example(features, sample.question, sample.answer_video)])
        loss = model(**batch).loss.item() * int((batch["labels"] != train.IGNORE).sum())
    inputs = pair.sample_inputs("target", dataset, sample)
    shorter = sample.answer_video.rsplit(" ", 2)[0]  # a shorter answer beside it pads the batch
    found = fact_choice.answer_log_likelihoods(pair, "target", inputs, [shorter, sample.answer_video])
    assert found[1] == pytest.approx(-loss, rel=1e-4)
    assert found[0] == pytest.approx(fact_choice.answer_log_likelihoods(pair, "target", inputs, [shorter])[0], rel=1e-4)


@pytest.mark.slow
def test_both_models_are_measured_on_both_splits(smoke_data):
    found = fact_choice.train_and_test_choice(smoke_data, limit=2, jobs=1)
    for side in ("draft", "target"):
        assert set(found[side]) == {"train", "test"}
        for split in found[side].values():
            for qtype, scores in split.items():
                assert qtype in fact_choice.alternatives(side)
                assert 0 <= scores["accuracy"] <= 1 and 1 <= scores["n"] <= 2 and 0 < scores["chance"] < 1
