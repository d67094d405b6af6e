"""The alignment stage of the mini pair (the projector alone under the frozen base LLM): its settings
and the checkpoint key without them, the caption turn of a packed row, and the stage end to end:
only the projector moves, stage C starts from it, and a killed stage resumes to the same weights."""

import pytest
import torch

pytest.importorskip("transformers")

from conftest import smoke_train_file, smoke_variant  # noqa: E402
from xsd.config import ProfileError, load_profile  # noqa: E402
from xsd.locations import Locations  # noqa: E402
from xsd.models import mini_training, mini_tuning, train  # noqa: E402
from xsd.models.config import ALIGN_SETTINGS  # noqa: E402
from xsd.models.mini_sides import SPECS  # noqa: E402
from xsd.world import qa  # noqa: E402
from xsd.world.texts import describe  # noqa: E402


# -- settings -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mini", "smoke"])
def test_without_alignment_the_checkpoint_key_ignores_its_settings(name, with_train):
    profile = load_profile(name)
    if profile.models.train.align_steps:
        pytest.skip(f"{name} aligns")
    assert not any(setting in repr(profile.models) for setting in ALIGN_SETTINGS)
    key = Locations(profile).checkpoint
    assert Locations(with_train(profile, align_lr=0.5)).checkpoint == key
    based = with_train(profile, base_steps=profile.models.train.base_steps or 10)
    aligned = Locations(with_train(based, align_steps=10)).checkpoint
    assert aligned != Locations(based).checkpoint
    assert Locations(with_train(based, align_steps=10, align_lr=0.5)).checkpoint != aligned



def test_alignment_needs_the_base_llm(tmp_path):
    with pytest.raises(ProfileError, match="align_steps.*base_steps"):
        load_profile(smoke_train_file(tmp_path, base_steps=0, align_steps=5))
    with pytest.raises(ProfileError, match="align_lr"):
        load_profile(smoke_train_file(tmp_path, base_steps=5, align_steps=5, align_lr=0.0))


# -- the caption turn ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tokenizer():
    from xsd.models.pair import tokenizer_texts
    from xsd.models.tokenizer import train_tokenizer

    texts = ["Seen: a red car heading left on the left. Light: day. Camera: stationary.",
             "What colour is the car?", "The car is red.", "How many road users are there?"]
    return train_tokenizer(tokenizer_texts(texts * 20), 300)


def test_a_caption_is_a_turn_straight_after_the_visual_tokens_that_no_question_sees(tokenizer):
    visual = 7
    prefix = [tokenizer.bos_token_id, 11, 12] + [visual] * 4
    prompts = [prefix + [13, 14], prefix + [15]]
    caption = "Seen: a red car heading left on the left."
    row = train._packed_row(tokenizer, prompts, ["The car is red.", "one"], visual, caption)
    segments = row["segments"]
    at = [i for i, s in enumerate(segments) if s == 1]
    assert row["ids"][:len(prefix)] == prefix and at[0] == len(prefix)
    assert row["ids"][at[0]:at[-1] + 1] == train.answer_ids(tokenizer, caption)
    assert row["labels"][at[0]:at[-1] + 1] == row["ids"][at[0]:at[-1] + 1]   # every caption token is learnt
    assert row["positions"][at[0]] == len(prefix)
    assert segments.count(2) and segments.count(3) and max(segments) == 3
    mask = train.packed_batch(tokenizer, [row])["attention_mask"][0, 0]
    for turn in (2, 3):
        first = segments.index(turn)
        assert mask[first, :len(prefix)].all() and not mask[first, at].any()
        assert row["positions"][first] == len(prefix)
    without = train._packed_row(tokenizer, prompts, ["The car is red.", "one"], visual)
    assert max(without["segments"]) == 2


def test_the_caption_is_the_sides_own_view_described():
    truth = {"lighting": "night", "ego_motion": "forward",
             "agents": [{"id": 0, "class": "car", "colour": "red", "direction": "left", "lane": 0, "speed": 1.0,
                         "x_start": 0.2, "x_mid": 0.2, "x_event": 0.2, "event_visible": True, "rgb_visible": True}]}
    assert mini_tuning.caption(truth, SPECS["target"]) == describe(qa.view(truth, "video"))
    assert "red" not in mini_tuning.caption(truth, SPECS["target"])      # no colour at night
    assert "Light" not in mini_tuning.caption(truth, SPECS["draft"])     # events carry no light
    assert mini_tuning.caption(truth, SPECS["draft"]).startswith("Seen: a car heading left")


# -- the stage, end to end on a smoke world ------------------------------------------------------------------

@pytest.fixture(scope="module")
def align_profile(tmp_path_factory):
    return smoke_variant(tmp_path_factory.mktemp("align"), "smokealign", base_steps=4, base_batch=2,
                         base_scenes=6, align_steps=6, checkpoint_every=3)


def projector(model) -> dict:
    return {n: t.clone() for n, t in model.state_dict().items() if "multi_modal_projector" in n}


@pytest.mark.slow
def test_alignment_moves_only_the_projector_and_stage_c_starts_from_it(align_profile, tmp_path, monkeypatch):
    profile, root = align_profile
    monkeypatch.setenv("XSD_DATA_ROOT", str(root))
    quiet = {"jobs": 1, "log": lambda _: None}

    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "whole"))
    report = mini_training.train_pair(profile, **quiet)
    whole = Locations(profile).checkpoint
    for side in ("draft", "target"):
        assert report["sides"][side]["align"]["steps"] == 6
        aligned = mini_tuning.aligned_projector(whole, SPECS[side])
        assert aligned and all("multi_modal_projector" in n for n in aligned)   # the LLM stayed the base's
        before = projector(mini_tuning.side_model(profile, SPECS[side], whole, aligned=False)[0])
        assert any(not torch.equal(before[n], t) for n, t in aligned.items())   # the stage moved it
        after = projector(mini_tuning.side_model(profile, SPECS[side], whole)[0])
        assert all(torch.equal(after[n], t) for n, t in aligned.items())        # stage C starts from it

    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "parts"))
    assert mini_training.train_pair(profile, stop_after=("align", 3), **quiet) == {}
    parts = Locations(profile).checkpoint
    assert not (parts / "draft_align" / "done.json").exists() and not (parts / "draft_tune").exists()
    mini_training.train_pair(profile, **quiet)
    for side in ("draft", "target"):
        resumed = mini_tuning.aligned_projector(parts, SPECS[side])
        assert all(torch.equal(t, mini_tuning.aligned_projector(whole, SPECS[side])[n]) for n, t in resumed.items())
