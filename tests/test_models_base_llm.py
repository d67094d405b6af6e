"""The shared base LLM of the mini pair: its settings (and the checkpoint key without them), its scene
text, its packed rows, both sides' LLMs starting from it, and the stage resuming to the same weights."""
import json

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("transformers")

from safetensors.torch import load_file  # noqa: E402
from conftest import smoke_variant  # noqa: E402
from xsd.config import ProfileError, load_profile  # noqa: E402
from xsd.locations import Locations  # noqa: E402
from xsd.models import mini_base, mini_tower, mini_training, mini_tuning, train  # noqa: E402
from xsd.models.config import BASE_SETTINGS  # noqa: E402
from xsd.models.mini_sides import SPECS  # noqa: E402
from xsd.world import qa, texts  # noqa: E402
from xsd.world.pretraining import PRETRAINING_OFFSET  # noqa: E402
from xsd.world.scene import CLASSES, COLOURS  # noqa: E402


# -- settings -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mini", "smoke"])
def test_without_a_base_stage_the_checkpoint_key_ignores_the_base_settings(name, with_train):
    profile = with_train(load_profile(name), base_steps=0)
    assert not any(setting in repr(profile.models) for setting in BASE_SETTINGS)
    key = Locations(profile).checkpoint
    assert Locations(with_train(profile, base_batch=3, base_lr=0.5, base_scenes=7)).checkpoint == key
    based = Locations(with_train(profile, base_steps=10)).checkpoint
    assert based != key
    assert Locations(with_train(profile, base_steps=10, base_scenes=7)).checkpoint != based


@pytest.mark.parametrize("setting, value", [("base_steps", -1), ("base_batch", 0), ("base_lr", 0.0),
                                            ("base_scenes", 0), ("base_scenes", texts.MAX_TEXT_SCENES + 1)])
def test_base_settings_are_checked(tmp_path, setting, value):
    from xsd.config import TEXT_SCENES

    assert TEXT_SCENES.high == texts.MAX_TEXT_SCENES
    data = yaml.safe_load(open(load_profile("smoke").source))
    data["models"]["train"][setting] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match=setting):
        load_profile(path)


# -- scene text -------------------------------------------------------------------------------------------

def test_text_scenes_are_deterministic_and_speak_each_style():
    world, seed = load_profile("smoke").world, 0
    first = texts.text_conversations(world, seed, 5)
    assert first == texts.text_conversations(world, seed, 5)
    assert first != texts.text_conversations(world, seed, 6)
    assert set(first) == set(qa.STYLES)
    for style, text in first.items():
        assert len(text["turns"]) == len(qa.QTYPES) and text["description"].startswith("Seen: ")
    for index in range(20):
        event = texts.text_conversations(world, seed, index)["event"]
        words = (event["description"] + " " + " ".join(a for _, a in event["turns"])).replace(".", " ").split()
        assert not set(words) & set(COLOURS) and "Light:" not in event["description"]


def test_lookup_turns_ask_each_road_user_by_its_class_and_answer_from_the_view():
    world, seed = load_profile("smoke").world, 0
    for index in range(10):
        plain, looked = texts.text_conversations(world, seed, index), texts.text_conversations(world, seed, index, True)
        for style in qa.STYLES:
            agents = sorted(qa.view(texts.text_truth(world, seed, index), style)["agents"], key=lambda a: a["lane"])
            assert looked[style]["turns"][:len(qa.QTYPES)] == plain[style]["turns"]
            extra = looked[style]["turns"][len(qa.QTYPES):]
            assert len(extra) == len(agents)
            for agent, (question, answer) in zip(agents, extra):
                assert qa.names_class(question, agent["class"])
                if sum(a["class"] == agent["class"] for a in agents) == 1:   # else it names the nearest one
                    stated = qa.read_facts(answer, ("colour", "position", "direction"))
                    asked = next(q for q in texts.LOOKUP_QTYPES if any(t.split("{")[0] in question
                                                                      for t in qa.QUESTIONS[q]))
                    truth = {"colour": agent["seen_colour"], "position": qa.position_word(agent["x"]),
                             "direction": agent["direction"]}[asked]
                    assert stated.get(asked) == truth, (question, answer)


def test_absence_turns_ask_about_each_class_the_view_lacks_and_answer_that_it_is_not_there():
    world, seed = load_profile("smoke").world, 0
    for index in range(10):
        plain = texts.text_conversations(world, seed, index)
        asked = texts.text_conversations(world, seed, index, absences=True)
        for style in qa.STYLES:
            shown = {a["class"] for a in qa.view(texts.text_truth(world, seed, index), style)["agents"]}
            assert asked[style]["turns"][:len(qa.QTYPES)] == plain[style]["turns"]
            extra = asked[style]["turns"][len(qa.QTYPES):]
            missing = [c for c in CLASSES if c not in shown]
            assert len(extra) == len(missing)
            for cls, (question, answer) in zip(missing, extra):
                assert qa.names_class(question, cls)
                stated = qa.read_facts(answer, ("present", "count"))
                assert stated.get("present") is False or stated.get("count") == 0, (question, answer)


def test_text_scenes_are_not_world_or_pretraining_scenes():
    """Text scene j is sequence TEXT_OFFSET + j, beyond every world and every tower pretraining scene."""
    from xsd.world.pretraining import sequence_clip

    world, seed = load_profile("smoke").world, 0
    assert texts.TEXT_OFFSET >= PRETRAINING_OFFSET + texts.MAX_TEXT_SCENES
    scenes = [sequence_clip(world, seed, i, 0, "rgb")["truth"]["agents"] for i in range(3)]
    ours = [texts.text_truth(world, seed, j * world.clips_per_sequence)["agents"] for j in range(3)]
    keys = ("class", "colour", "direction", "lane")
    strip = lambda agents: [{k: a[k] for k in keys} for a in agents]  # noqa: E731
    assert not any(strip(o) == strip(s) for o in ours for s in scenes if o)
    with pytest.raises(ValueError, match="text scene index"):
        texts.text_truth(world, seed, texts.MAX_TEXT_SCENES)


def test_the_text_truth_answers_as_the_world_does():
    """Every answer states its view's facts, read back by the world's own grading."""
    world = load_profile("smoke").world
    for index in range(10):
        truth = texts.text_truth(world, 0, index)
        for style in qa.STYLES:
            for question in qa.view_questions(truth, style, np.random.default_rng(index)):
                assert qa.grade(question["answer"], question["facts"]), question


# -- packed rows ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_tokenizer():
    from xsd.models.pair import tokenizer_texts
    from xsd.models.tokenizer import train_tokenizer

    world = load_profile("smoke").world
    corpus = [t for i in range(30) for text in texts.text_conversations(world, 0, i).values()
              for t in [text["description"], *(s for turn in text["turns"] for s in turn)]]
    return train_tokenizer(tokenizer_texts(corpus), 400)


def test_a_row_is_the_sides_prompt_with_the_description_then_every_turn(base_tokenizer):
    from xsd.models import eventgpt, videollava

    text = texts.text_conversations(load_profile("smoke").world, 0, 2)
    for style, prompt, placeholder in (("event", eventgpt.draft_prompt, eventgpt.EVENT_PLACEHOLDER),
                                       ("video", videollava.target_prompt, videollava.VIDEO_PLACEHOLDER)):
        turns = text[style]["turns"][:3]
        row = mini_base.conversation_row(base_tokenizer, style, text[style]["description"], turns)
        head = base_tokenizer(prompt("").split(placeholder)[0])["input_ids"]
        assert row["ids"][:len(head)] == head
        prefix = row["segments"].count(0)
        assert base_tokenizer.decode(row["ids"][len(head):prefix]) == text[style]["description"]
        for turn, (question, answer) in enumerate(turns, start=1):
            at = [i for i, s in enumerate(row["segments"]) if s == turn]
            said = base_tokenizer.decode(row["ids"][at[0]:at[-1] + 1])
            assert question in said and said.endswith(f"ASSISTANT: {answer}</s>")
            assert row["labels"][at[0]] == train.IGNORE and row["labels"][at[1]:at[-1] + 1] == row["ids"][at[1]:at[-1] + 1]
            assert row["positions"][at[0]] == prefix
        mask = train.packed_batch(base_tokenizer, [row])["attention_mask"][0, 0]
        last = len(row["ids"]) - 1
        assert mask[last, :prefix].all() and not mask[last, prefix:prefix + 1].any()


def test_a_step_one_conversation_at_a_time_is_the_padded_batchs(tmp_path, base_tokenizer):
    """The base LLM's loss, one unpadded forward pass per conversation, has the padded batch's value
    and gradients: conversations of different lengths weigh as their tokens."""
    base_tokenizer.save_pretrained(str(tmp_path / "tokenizer"))
    model, _ = mini_base.new_base_llm(load_profile("smoke"), tmp_path)
    text = texts.text_conversations(load_profile("smoke").world, 0, 3)
    rows = [mini_base.conversation_row(base_tokenizer, style, text[style]["description"], text[style]["turns"][:n])
            for style, n in (("event", 4), ("video", 1))]

    def loss_and_grads(loss_of):
        model.zero_grad()
        loss = loss_of()
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters()]

    padded, padded_grads = loss_and_grads(lambda: model(**train.packed_batch(base_tokenizer, rows)).loss)
    shapes = []
    hook = model.register_forward_pre_hook(lambda _, args, kwargs: shapes.append(kwargs["input_ids"].shape),
                                           with_kwargs=True)
    one_by_one, grads = loss_and_grads(lambda: train.rows_loss(model, base_tokenizer, rows))
    hook.remove()
    assert shapes == [(1, len(rows[0]["ids"])), (1, len(rows[1]["ids"]))] and shapes[0][1] > shapes[1][1]
    assert one_by_one == pytest.approx(padded, rel=1e-5)
    for mine, theirs in zip(grads, padded_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)


def test_rows_with_nothing_to_learn_are_refused(tmp_path, base_tokenizer):
    base_tokenizer.save_pretrained(str(tmp_path / "tokenizer"))
    model, _ = mini_base.new_base_llm(load_profile("smoke"), tmp_path)
    row = {"ids": [5, 6], "labels": [train.IGNORE] * 2, "positions": [0, 1], "segments": [0, 1]}
    with pytest.raises(ValueError, match="none of the rows"):
        train.rows_loss(model, base_tokenizer, [row])


def test_a_step_draws_distinct_conversations_from_seed_and_step(with_train):
    profile = with_train(load_profile("smoke"), base_steps=4, base_batch=3, base_scenes=5)
    step = mini_base.conversations_of_step(profile, 1)
    assert step == mini_base.conversations_of_step(profile, 1) and len(step) == 3
    assert len({(style, description) for style, description, _ in step}) == 3


# -- both sides start from the base LLM --------------------------------------------------------------------

@pytest.fixture
def side_folder(tmp_path, base_tokenizer):
    """A checkpoint folder with what stage C starts from: the tokenizer and both towers."""
    profile = load_profile("smoke")
    base_tokenizer.save_pretrained(str(tmp_path / "tokenizer"))
    for spec in SPECS.values():
        (tmp_path / f"{spec.name}_tower").mkdir()
        torch.save(mini_tower.new_tower(profile, spec).tower.state_dict(), tmp_path / f"{spec.name}_tower" / "tower.pt")
    return tmp_path


def llm_weights(model) -> dict:
    return {n: t for n, t in model.state_dict().items() if n.startswith(("model.language_model.", "lm_head."))}


def test_both_sides_llms_start_from_the_base_llm(side_folder, with_train):
    from xsd.cache import torch_save_atomic

    profile = with_train(load_profile("smoke"), base_steps=2)
    base, _ = mini_base.new_base_llm(profile, side_folder)
    state = {n: torch.randn_like(t) for n, t in base.state_dict().items()}
    (side_folder / mini_base.FOLDER).mkdir()
    torch_save_atomic({"model": state}, side_folder / mini_base.FOLDER / "state.pt")
    with pytest.raises(FileNotFoundError, match="not trained yet"):
        mini_tuning.side_model(profile, SPECS["draft"], side_folder)
    (side_folder / mini_base.FOLDER / "done.json").write_text("{}")
    for side in ("draft", "target"):
        model, tokenizer = mini_tuning.side_model(profile, SPECS[side], side_folder)
        weights = llm_weights(model)
        assert len(weights) == len(state)
        for name, value in state.items():
            mine = name if name.startswith("lm_head.") else "model.language_model." + name.removeprefix("model.")
            rows = weights[mine].shape[0]
            assert torch.equal(weights[mine], value[:rows]), (side, name)
        vocab = model.get_input_embeddings().weight.shape[0]
        assert vocab == (len(tokenizer) if side == "draft" else state["model.embed_tokens.weight"].shape[0])
        tower = torch.load(side_folder / f"{side}_tower" / "tower.pt", weights_only=True)
        ours = model.model.vision_tower if side == "draft" else model.model.video_tower
        assert all(torch.equal(ours.state_dict()[n], t) for n, t in tower.items())


def test_without_a_base_stage_the_sides_start_as_before(side_folder, with_train):
    from xsd.models.eventgpt import build_draft
    from xsd.models.tokenizer import target_tokenizer, target_vocab_size
    from xsd.models.videollava import build_target

    profile = with_train(load_profile("smoke"), base_steps=0)
    base = load_tokenizer(side_folder)
    draft, _ = mini_tuning.side_model(profile, SPECS["draft"], side_folder)
    fresh = build_draft(profile.models, len(base), profile.seed, base.unk_token_id)
    assert all(torch.equal(t, llm_weights(fresh)[n]) for n, t in llm_weights(draft).items())
    target, _ = mini_tuning.side_model(profile, SPECS["target"], side_folder)
    fresh = build_target(profile.models, target_vocab_size(target_tokenizer(base)), len(base), profile.seed + 1)
    assert all(torch.equal(t, llm_weights(fresh)[n]) for n, t in llm_weights(target).items())


def load_tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder / "tokenizer"), local_files_only=True)


# -- the stage, end to end on a smoke world ------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_profile(tmp_path_factory):
    """The smoke profile with a short base stage, and its world in a private data root."""
    return smoke_variant(tmp_path_factory.mktemp("base-llm"), "smokebase", base_steps=6, base_batch=2,
                         base_scenes=8, checkpoint_every=4)


@pytest.mark.slow
def test_the_base_stage_resumes_to_the_same_weights_and_both_sides_start_from_it(base_profile, tmp_path,
                                                                                  monkeypatch):
    """Also: the draft's process, alone first, trains the target's tower and features too (and the
    base LLM, which the target's process would have trained), and the pair is the one the target's
    own process trains."""
    profile, root = base_profile
    monkeypatch.setenv("XSD_DATA_ROOT", str(root))
    quiet = {"jobs": 1, "log": lambda _: None}

    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "whole"))
    report = mini_training.train_pair(profile, **quiet)
    whole_dir = Locations(profile).checkpoint
    whole = mini_base.base_weights(whole_dir)
    assert report["base_llm"]["steps"] == 6 and report["base_llm"]["seconds"] > 0
    assert report["sides"]["draft"]["base_llm_seconds"] > 0
    written = json.loads((Locations(profile).checkpoint / "training.json").read_text())
    assert written["base_llm"]["conversations_seen"] == 12

    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "alone"))   # trained alone, it is the pair's base LLM
    assert mini_training.train_base_only(profile, log=quiet["log"])["steps"] == 6
    alone = mini_base.base_weights(Locations(profile).checkpoint)
    assert all(torch.equal(value, alone[name]) for name, value in whole.items())

    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "parts"))
    assert mini_training.train_pair(profile, stop_after=("base", 3), **quiet) == {}
    directory = Locations(profile).checkpoint
    assert not (directory / mini_base.FOLDER / "done.json").exists()
    assert torch.load(directory / mini_base.FOLDER / "state.pt", weights_only=True)["step"] == 3
    assert not (directory / "draft_tune").exists() and not (directory / "target_tune").exists()
    mini_training.train_pair(profile, **quiet)
    parts = mini_base.base_weights(directory)
    assert whole.keys() == parts.keys()
    for name, value in whole.items():
        assert torch.equal(value, parts[name]), name

    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "helped"))   # the draft's process first, alone
    helped = Locations(profile).checkpoint
    mini_training.prepare_checkpoint(profile, helped)
    reference = str(profile.source or profile.name)
    draft = mini_training.train_side(reference, "draft", str(helped))
    assert (helped / "target_tower" / "done.json").is_file() and (helped / "target_features" / "done.json").is_file()
    assert not (helped / "target_tune").exists() and draft["base_llm_seconds"] > 0
    target = mini_training.train_side(reference, "target", str(helped))
    assert target["tower"] == json.loads((helped / "target_tower" / "done.json").read_text())  # found, not retrained
    for side in ("draft", "target"):   # the same pair, whichever process trained the target's tower
        ours, theirs = (load_file(next((d / side).glob("*.safetensors"))) for d in (helped, whole_dir))
        assert ours.keys() == theirs.keys() and all(torch.equal(v, theirs[n]) for n, v in ours.items()), side

    for side in ("draft", "target"):   # stage C starts from the base weights
        model, _ = mini_tuning.side_model(profile, SPECS[side], directory)
        weights = llm_weights(model)
        for name, value in parts.items():
            mine = name if name.startswith("lm_head.") else "model.language_model." + name.removeprefix("model.")
            assert torch.equal(weights[mine], value[:weights[mine].shape[0]]), (side, name)


def test_the_base_command_trains_the_base_llm_alone_and_asks_it_the_questions_in_words(base_profile, run_xsd,
                                                                                       tmp_path, monkeypatch):
    profile, root = base_profile
    monkeypatch.setenv("XSD_DATA_ROOT", str(root))   # the command's subprocess inherits both
    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "models"))
    out = tmp_path / "base.json"
    result = run_xsd("models", "base", "--profile", profile.source, "--limit", "2", "--jobs", "1", "--json", out)
    assert result.returncode == 0, result.stderr
    assert "[base] step 6/6" in result.stdout and "base LLM: 6 steps of 2 conversations" in result.stdout
    found = json.loads(out.read_text())
    assert found["base_llm"]["steps"] == 6 and found["base_llm"]["conversations_seen"] == 12
    for side in ("draft", "target"):
        reading = found["reading"][side]
        assert reading["n"] > 0 and 0.0 <= reading["mean"] <= 1.0
        assert sum(v["n"] for v in reading["by_asked_in_view"].values()) > 0
        assert f"  {side:6}  {reading['mean']:.1%}" in result.stdout
    directory = Locations(profile).checkpoint
    assert mini_base.is_trained(directory)
    assert not (directory / "draft").exists() and not (directory / "target").exists()   # the pair is not trained

    again = run_xsd("models", "base", "--profile", profile.source, "--limit", "2", "--jobs", "1")
    assert again.returncode == 0 and "base LLM: 6 steps" in again.stdout
    assert "step 6/6" not in again.stdout   # found finished, not trained again


def test_the_base_command_refuses_a_profile_without_a_base_llm(tmp_path, run_xsd):
    variant, root = smoke_variant(tmp_path, "smokenobase", base_steps=0)
    result = run_xsd("models", "base", "--profile", variant.source, env={"XSD_DATA_ROOT": str(root)})
    assert result.returncode == 1
    assert "trains no shared base LLM (base_steps: 0)" in result.stderr


def test_the_description_reading_needs_a_finished_base_llm_and_names_the_command(tmp_path, monkeypatch):
    from xsd.models.registry import ModelsNotTrained
    from xsd.studies import description_reading

    monkeypatch.setenv("XSD_MODELS", str(tmp_path))
    with pytest.raises(ModelsNotTrained, match="run `xsd models base --profile smoke`"):
        description_reading.load_base_llm(load_profile("smoke"))
