"""The base LLM asked the test questions with each clip's description in words: its prompt is the
text it was pretrained on, it runs end to end on the smoke pair, and the notebook's verdict follows
the numbers."""
import math

import pytest

pytest.importorskip("transformers")

from xsd.config import load_profile  # noqa: E402
from xsd.models import mini_base  # noqa: E402
from xsd.studies import description_reading, world_models  # noqa: E402
from xsd.world import texts  # noqa: E402


def test_the_prompt_is_the_pretraining_rows_text_up_to_the_answer(smoke_data):
    from xsd.models.registry import trained_checkpoint

    _, tokenizer = mini_base.new_base_llm(smoke_data, trained_checkpoint(smoke_data))
    text = texts.text_conversations(smoke_data.world, smoke_data.seed, 3)
    for side, style in (("draft", "event"), ("target", "video")):
        question, answer = text[style]["turns"][0]
        row = mini_base.conversation_row(tokenizer, style, text[style]["description"], [(question, answer)])
        prompt = description_reading.prompt_ids(tokenizer, side, question, text[style]["description"])
        answer_start = len(row["ids"]) - len(mini_base.train.answer_ids(tokenizer, answer))
        assert prompt == row["ids"][:answer_start], side
        assert tokenizer.decode(prompt).rstrip().endswith("ASSISTANT:")


def test_the_base_llm_answers_every_gradable_test_question_of_both_sides(smoke_data):
    from xsd.models.registry import built_world
    from xsd.studies.model_accuracy import gradable
    from xsd.world.dataset import WorldDataset

    found = world_models.description_reading(smoke_data, limit=2)
    samples = WorldDataset(built_world(smoke_data), "test").samples
    for side in ("draft", "target"):
        expected = gradable(samples, side, 2)
        assert found[side]["n"] == len(expected) > 0
        assert set(found[side]["per_qtype"]) == {s.qtype for s in expected}
        assert 0.0 <= found[side]["mean"] <= 1.0 and not math.isnan(found[side]["mean"])
        assert all(isinstance(e["answer"], str) for e in found[side]["examples"])
        split = found[side]["by_asked_in_view"]
        assert sum(v["n"] for v in split.values()) == sum(s.key_facts.get("class") is not None for s in expected)
    assert world_models.description_reading(smoke_data, limit=2) == found  # cached


def test_a_profile_without_a_base_llm_has_nothing_to_ask(with_train):
    profile = with_train(load_profile("smoke"), base_steps=0)
    assert world_models.description_reading(profile) is None
    with pytest.raises(ValueError, match="no shared base LLM"):
        description_reading.description_reading(profile)


def accuracy(mean: float) -> dict:
    return {"mean": mean, "per_qtype": {"colour": {"accuracy": mean}, "count": {"accuracy": mean}}}


def test_the_reading_compares_each_vlm_with_its_starting_language_model():
    vlms = {"draft": accuracy(0.50), "target": accuracy(0.40)}
    told = {"draft": accuracy(0.52), "target": accuracy(0.90)}
    title, lines = world_models.description_reading_lines(vlms, told)
    draft, target = lines.split("\n")
    assert "52.0%" in draft and "50.0%" in draft and "about as many from its event frames" in draft
    assert "90.0%" in target and "50% fewer from its video" in target and "are lost" in target
    _, lines = world_models.description_reading_lines({"draft": accuracy(0.61), "target": accuracy(0.4)}, told)
    assert "9% more from its event frames" in lines.split("\n")[0] and "no ceiling" in lines.split("\n")[0]
    table = world_models.description_table(vlms, told)
    assert table.loc["mean (all graded answers)", ("target", "base LLM, words")] == 0.90
    assert table.loc["colour", ("draft", "VLM")] == 0.50


def split(absent: float, one: float) -> dict:
    return {"by_asked_in_view": {"absent": {"accuracy": absent, "n": 10}, "one": {"accuracy": one, "n": 20}}}


def test_the_asked_in_view_reading_says_which_model_answers_from_its_prior():
    vlms = {"draft": split(0.7, 0.75), "target": split(0.1, 0.8)}
    told = {"draft": split(0.2, 0.9), "target": split(0.85, 0.8)}
    title, text = world_models.asked_in_view_lines(vlms, told)
    lines = text.splitlines()
    assert len(lines) == 4 and "class it does not see" in title
    prior, looks = "as if the asked class were there", "tells a class it is not shown"
    draft_vlm, draft_words, target_vlm, target_words = lines
    assert looks in draft_vlm and "75%" in draft_vlm and "70%" in draft_vlm
    assert prior in draft_words and prior in target_vlm and "10%" in target_vlm
    assert looks in target_words
    table = world_models.asked_in_view_table(vlms, told)
    assert table.loc["absent", ("target", "VLM")] == 0.1 and table.loc["one", ("draft", "n")] == 20


def test_without_both_groups_the_asked_in_view_reading_says_so():
    nothing = {side: {"by_asked_in_view": {}} for side in ("draft", "target")}
    _, text = world_models.asked_in_view_lines(nothing, None)
    assert text.startswith("- Too few graded class questions")
    assert world_models.asked_in_view_table(nothing, None).empty
