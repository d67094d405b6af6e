"""Training machinery: answer-only labels, learning, exact resume, tower pretraining."""
import pytest
import torch
from torch import nn
import yaml

pytest.importorskip("transformers")

from xsd.config import PROFILES_DIR, _build  # noqa: E402
from xsd.models import train  # noqa: E402
from xsd.models.config import ModelsConfig  # noqa: E402
from xsd.models.eventgpt import clip_vision_config  # noqa: E402
from xsd.models.pair import new_pair  # noqa: E402

ANSWERS = {0: "The car moves left.", 1: "The car moves right."}
QUESTION = "Which way does the car move?"


@pytest.fixture(scope="module")
def smoke() -> ModelsConfig:
    path = PROFILES_DIR / "smoke.yaml"
    return _build(ModelsConfig, yaml.safe_load(path.read_text())["models"], where=str(path))


def fresh_pair(smoke):
    return new_pair(smoke, [QUESTION, *ANSWERS.values()] * 20, seed=0)


def examples(side: str, smoke, n=8, seed=0):
    """Tower features whose sign carries the answer."""
    g = torch.Generator().manual_seed(seed)
    tower = smoke.draft_tower if side == "draft" else smoke.target_tower
    frames = smoke.event_frames if side == "draft" else smoke.video_frames
    tokens = (smoke.image_size // tower.patch_size) ** 2 + 1
    out = []
    for i in range(n):
        label = i % 2
        features = torch.randn(frames, tokens, tower.hidden_size, generator=g) * 0.1 + (1.0 if label else -1.0)
        out.append(train.Example(features, QUESTION, ANSWERS[label]))
    return out


@pytest.mark.parametrize("side", ["draft", "target"])
def test_labels_cover_exactly_the_answer_and_eos(smoke, side):
    pair = fresh_pair(smoke)
    model, tok = getattr(pair, side), getattr(pair, f"{side}_tokenizer")
    batch = train.tuning_batch(model, tok, side, examples(side, smoke, n=2))
    for row in range(2):
        labelled = batch["labels"][row][batch["labels"][row] != train.IGNORE]
        assert labelled[-1].item() == tok.eos_token_id
        assert tok.decode(labelled[:-1]) == " " + ANSWERS[row % 2]
        n_real = int(batch["attention_mask"][row].sum())
        assert (batch["labels"][row][n_real:] == train.IGNORE).all()
    assert model(**batch).loss.isfinite()


def tune(pair, side, smoke, directory, steps, stop_after=None, precision="float32"):
    model, tok = getattr(pair, side), getattr(pair, f"{side}_tokenizer")
    train.freeze_for_tuning(model)
    data = examples(side, smoke)

    def loss_of_step(step):
        chosen = train.sample_batch(len(data), 4, seed=0, step=step)
        return train.tuning_loss(model, tok, side, [data[i] for i in chosen])

    settings = train.LoopSettings(steps=steps, lr=3e-3, seed=0, log_every=5, checkpoint_every=100, warmup=2,
                                  precision=precision)
    return train.run_steps(model, loss_of_step, settings, directory, log=lambda _: None, stop_after=stop_after)


def test_tuning_learns_and_leaves_the_tower_alone(smoke, tmp_path):
    pair = fresh_pair(smoke)
    tower_before = {k: v.clone() for k, v in pair.draft.model.vision_tower.state_dict().items()}
    losses = tune(pair, "draft", smoke, tmp_path, steps=30)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    for key, value in pair.draft.model.vision_tower.state_dict().items():
        assert torch.equal(value, tower_before[key])


def test_resumed_run_ends_with_the_same_weights(smoke, tmp_path):
    whole = fresh_pair(smoke)
    tune(whole, "target", smoke, tmp_path / "whole", steps=6)
    interrupted = fresh_pair(smoke)
    first = tune(interrupted, "target", smoke, tmp_path / "parts", steps=6, stop_after=3)
    assert len(first) == 3
    resumed = fresh_pair(smoke)  # a new process: fresh weights, state only from the checkpoint
    losses = tune(resumed, "target", smoke, tmp_path / "parts", steps=6)
    assert len(losses) == 6
    for (name, a), b in zip(whole.target.state_dict().items(), resumed.target.state_dict().values()):
        assert torch.equal(a, b), name


def test_bfloat16_steps_compute_in_bf16_keep_fp32_weights_and_learn(smoke, tmp_path):
    pair = fresh_pair(smoke)
    layer = pair.draft.model.language_model.layers[0].mlp.down_proj
    seen = []
    layer.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    losses = tune(pair, "draft", smoke, tmp_path, steps=30, precision="bfloat16")
    assert seen and set(seen) == {torch.bfloat16}
    assert layer.weight.dtype == torch.float32
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_a_resumed_bfloat16_run_ends_with_the_same_weights(smoke, tmp_path):
    whole = fresh_pair(smoke)
    tune(whole, "target", smoke, tmp_path / "whole", steps=4, precision="bfloat16")
    tune(fresh_pair(smoke), "target", smoke, tmp_path / "parts", steps=4, stop_after=2, precision="bfloat16")
    resumed = fresh_pair(smoke)
    assert len(tune(resumed, "target", smoke, tmp_path / "parts", steps=4, precision="bfloat16")) == 4
    for (name, a), b in zip(whole.target.state_dict().items(), resumed.target.state_dict().values()):
        assert torch.equal(a, b), name


def test_an_unknown_precision_is_refused(smoke, tmp_path):
    with pytest.raises(ValueError, match="precision must be one of"):
        tune(fresh_pair(smoke), "draft", smoke, tmp_path, steps=1, precision="float16")


def pretrained_on(model, batch, steps: int, folder):
    """(logits, targets) of a fresh batch after `steps` stage-A steps on batch(step)."""
    def loss_of_step(step):
        pixels, targets = batch(step)
        return train.attribute_loss(model(pixels), targets)

    settings = train.LoopSettings(steps=steps, lr=2e-3, seed=0, log_every=10, checkpoint_every=100, warmup=4)
    train.run_steps(model, loss_of_step, settings, folder, log=lambda _: None)
    pixels, targets = batch(10_000)
    with torch.no_grad():
        return model(pixels), targets


def test_tower_pretraining_learns_a_visible_attribute(smoke, tmp_path):
    torch.manual_seed(0)
    config = clip_vision_config(smoke.draft_tower, smoke.image_size)
    model = train.TowerPretraining(config, {"side": 2, "hidden": 3}, feature_layer=-1)
    def batch(step):
        gen = train.step_generator(0, step)
        side = torch.randint(0, 2, (16,), generator=gen)
        pixels = torch.randn(16, 3, 64, 64, generator=gen) * 0.3
        pixels[side == 1, :, :, 32:] += 1.5
        pixels[side == 0, :, :, :32] += 1.5
        return pixels, {"side": side, "hidden": torch.full((16,), train.IGNORE)}

    logits, targets = pretrained_on(model, batch, 40, tmp_path)
    accuracy = train.attribute_accuracy(logits, targets)
    assert accuracy == {"side": pytest.approx(1.0, abs=0.07)}  # "hidden" is never visible: no score


def test_patch_heads_learn_what_each_patch_shows(smoke, tmp_path):
    """One head shared by every patch token: it learns which patch of a 4 x 4 grid is lit."""
    torch.manual_seed(0)
    config = clip_vision_config(smoke.draft_tower, smoke.image_size)
    model = train.TowerPretraining(config, {}, feature_layer=-1, patch_classes={"patch_lit": 1})

    def batch(step):
        gen = train.step_generator(0, step)
        lit = torch.randint(0, 16, (16,), generator=gen)
        pixels = torch.randn(16, 3, 64, 64, generator=gen) * 0.3
        for i, cell in enumerate(lit.tolist()):
            row, col = divmod(cell, 4)
            pixels[i, :, 16 * row:16 * row + 16, 16 * col:16 * col + 16] += 1.5
        return pixels, {"patch_lit": nn.functional.one_hot(lit, 16).unsqueeze(-1)}

    logits, targets = pretrained_on(model, batch, 60, tmp_path)
    assert logits["patch_lit"].shape == (16, 16, 1)
    assert train.attribute_accuracy(logits, targets)["patch_lit"] > 0.9
    assert ((logits["patch_lit"] > 0).squeeze(-1).sum(1) == 1).float().mean() > 0.9   # and no other patch


def test_place_heads_make_each_token_tell_where_it_lies(smoke, tmp_path):
    """Position embeddings alone give a token its place; the place heads keep it in what the token
    holds: after training, each token of an unseen image names its own column and row."""
    torch.manual_seed(0)
    config = clip_vision_config(smoke.draft_tower, smoke.image_size)
    model = train.TowerPretraining(config, {}, feature_layer=-1, place_heads=True)

    def batch(step):
        return torch.randn(16, 3, 64, 64, generator=train.step_generator(0, step)) * 0.3, {}

    with torch.no_grad():
        before = train.attribute_accuracy(model(batch(10_000)[0]), {})
    logits, targets = pretrained_on(model, batch, 150, tmp_path)
    assert logits["token_column"].shape == logits["token_row"].shape == (16, 16, 4)
    after = train.attribute_accuracy(logits, targets)
    assert after["token_column"] > 0.95 and after["token_row"] > 0.95
    assert before["token_column"] < 0.5


def test_a_place_head_is_scored_against_the_token_grid():
    """Token k of a 3 x 3 grid lies in column k mod 3 and row k // 3."""
    logits = torch.zeros(2, 9, 3)
    logits[:, torch.arange(9), torch.arange(9) % 3] = 1.0
    assert train.attribute_accuracy({"token_column": logits}, {}) == {"token_column": 1.0}
    assert train.attribute_accuracy({"token_row": logits}, {})["token_row"] == pytest.approx(3 / 9)


QA = [("Which way does the car move?", "The car moves left."), ("How many cars are there?", "Two cars."),
      ("Is it day?", "It is night, the scene is dark.")]


@pytest.mark.parametrize("side", ["draft", "target"])
def test_a_packed_conversation_is_its_turns_asked_one_at_a_time(smoke, side):
    """Every turn sees the visual tokens and itself only: the packed loss equals the loss of the
    single-turn examples, each run alone as the model is evaluated."""
    pair = new_pair(smoke, [t for turn in QA for t in turn] * 20, seed=0)
    model, tok = getattr(pair, side), getattr(pair, f"{side}_tokenizer")
    features = [f.features for f in examples(side, smoke, n=2)]
    conversations = [train.Conversation(features[0], QA), train.Conversation(features[1], QA[:2])]
    with torch.no_grad():
        packed = model(**train.conversation_batch(model, tok, side, conversations)).loss
        total, tokens = 0.0, 0
        for conversation in conversations:
            for question, answer in conversation.turns:
                one = train.tuning_batch(model, tok, side, [train.Example(conversation.features, question, answer)])
                one["attention_mask"] = torch.ones_like(one["input_ids"])
                del one["position_ids"]
                n = int((one["labels"] != train.IGNORE).sum())
                total, tokens = total + model(**one).loss.item() * n, tokens + n
    assert packed.item() == pytest.approx(total / tokens, abs=1e-5)


def test_turn_mask_is_causal_within_a_turn_and_blind_across_turns():
    segments = torch.tensor([[0, 0, 1, 1, 2, 2, train.PADDING]])
    mask = train.turn_block_mask(segments)[0, 0]
    assert mask[3, :4].tolist() == [True, True, True, True]
    assert mask[4].tolist() == [True, True, False, False, True, False, False]
    assert not mask[2, 3]                       # causal
    assert mask[6].tolist() == [False] * 6 + [True]  # padding sees only itself


def test_clip_heads_read_the_frames_of_a_clip_together(smoke):
    config = clip_vision_config(smoke.target_tower, smoke.image_size)
    model = train.TowerPretraining(config, {"colour": 3}, feature_layer=-2, clip_classes={"motion": 5},
                                   frames_per_clip=2)
    out = model(torch.randn(6, 3, 64, 64))
    assert out["colour"].shape == (6, 3) and out["motion"].shape == (3, 5)


def test_a_setting_is_shared_or_given_per_side():
    from xsd.models.config import per_side

    assert per_side(7, "draft") == per_side(7, "target") == 7
    assert per_side({"draft": 3, "target": 5}, "target") == 5
