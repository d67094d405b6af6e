"""Stage C's distillation from the base LLM reading the scene in words: its settings, the checkpoint
key without them, the loss on the trained smoke pair, and the stage end to end."""

import pytest
import torch

pytest.importorskip("transformers")

from conftest import smoke_train_file, smoke_variant  # noqa: E402
from xsd.config import ProfileError, load_profile  # noqa: E402
from xsd.locations import Locations  # noqa: E402
from xsd.models import mini_distill, mini_training, mini_tuning, train  # noqa: E402
from xsd.models.mini_sides import SPECS  # noqa: E402



def test_distillation_needs_the_base_llm_and_both_sides_when_given_per_side(tmp_path):
    with pytest.raises(ProfileError, match="distill_weight.*base_steps"):
        load_profile(smoke_train_file(tmp_path, base_steps=0, distill_weight=1.0))
    with pytest.raises(ProfileError, match="distill_weight.*keys"):
        load_profile(smoke_train_file(tmp_path, distill_weight={"target": 1.0}))
    with pytest.raises(ProfileError, match="distill_weight"):
        load_profile(smoke_train_file(tmp_path, distill_weight=-1.0))
    assert load_profile(smoke_train_file(tmp_path, distill_weight={"draft": 0, "target": 2.5})).models.train


@pytest.mark.parametrize("name", ["mini", "smoke"])
def test_without_distillation_the_checkpoint_key_ignores_the_setting(name, with_train):
    off = with_train(load_profile(name), distill_weight=0.0)
    assert "distill_weight" not in repr(off.models)
    assert Locations(with_train(off, distill_weight=1.0)).checkpoint != Locations(off).checkpoint


def smoke_batch(profile, side, directory):
    """Two train clips' conversations, and their scenes in words."""
    features = torch.load(directory / f"{side}_features" / "features.pt", weights_only=True)
    keys, qa, texts = mini_tuning.clip_texts(profile, SPECS[side], directory)
    batch = mini_tuning.conversations_of_step(keys, qa, features, 3, 2, profile.seed, 0, texts)
    return [c.__class__(c.features, c.turns) for c in batch], [c.caption for c in batch]


@pytest.mark.parametrize("side", ["draft", "target"])
def test_the_distilled_loss_adds_a_distance_to_the_base_llm_reading_words(smoke_data, side):
    profile, spec = smoke_data, SPECS[side]
    directory = Locations(profile).checkpoint
    model, tokenizer = mini_tuning.side_model(profile, spec, directory)
    teacher = mini_distill.SceneTeacher(profile, directory, spec.view)
    conversations, descriptions = smoke_batch(profile, side, directory)
    assert all(descriptions) and descriptions[0].startswith("Seen:")

    plain = train.conversation_loss(model, tokenizer, side, conversations)
    none = mini_distill.distilled_loss(model, tokenizer, side, conversations, descriptions, teacher, 0.0)
    assert none.item() == pytest.approx(plain.item(), rel=1e-5)

    distance = mini_distill.distilled_loss(model, tokenizer, side, conversations, descriptions, teacher, 1.0) - none
    assert distance.item() > 0
    model.zero_grad()
    distance.backward()
    projector = [p.grad for n, p in model.named_parameters() if "multi_modal_projector" in n]
    assert projector and all(g is not None and g.abs().sum() > 0 for g in projector)
    assert all(p.grad is None for p in teacher.model.parameters())


def test_the_teacher_reads_the_same_turn_tokens_as_the_vlm(smoke_data):
    """The two prompts share their text after the visual tokens, so the distance is token by token."""
    profile, spec = smoke_data, SPECS["target"]
    directory = Locations(profile).checkpoint
    model, tokenizer = mini_tuning.side_model(profile, spec, directory)
    teacher = mini_distill.SceneTeacher(profile, directory, spec.view)
    conversations, descriptions = smoke_batch(profile, "target", directory)
    rows, _ = train.conversation_rows(model, tokenizer, "target", conversations)
    ids, states = teacher.turn_states(descriptions[0], conversations[0].turns)
    assert [rows[0]["ids"][i] for i in mini_distill.turn_indices(rows[0])] == ids
    assert len(states) == profile.models.llm.num_layers + 1 and states[1].shape[0] == len(ids)


@pytest.mark.slow
def test_stage_c_distils_on_the_side_that_asks_for_it(tmp_path_factory, monkeypatch, capsys):
    profile, root = smoke_variant(tmp_path_factory.mktemp("distill"), "smokedistill", base_steps=4, base_batch=2,
                                  base_scenes=6, tune_steps=6, still_steps=2,
                                  distill_weight={"draft": 0.0, "target": 1.0})
    monkeypatch.setenv("XSD_DATA_ROOT", str(root))
    report = mini_training.train_pair(profile, jobs=1, log=lambda _: None)
    assert report["sides"]["target"]["tune"]["steps"] == 6
    said = [line for line in capsys.readouterr().out.splitlines() if "distilled from the base LLM" in line]
    assert len(said) == 1 and said[0].startswith("[target]")
