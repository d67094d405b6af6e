"""Both VLMs at smoke sizes: inputs, generation with hidden states, save/load, 4-bit NF4, errors."""
import json

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("transformers")

from xsd.config import PROFILES_DIR, _build  # noqa: E402
from xsd.models import eventgpt, videollava  # noqa: E402
from xsd.models.config import ModelsConfig  # noqa: E402
from xsd.models.generate import greedy_with_states  # noqa: E402
from xsd.models.loading import ModelLoadError, load_draft, load_target  # noqa: E402
from xsd.models.loading import load_saved_pair
from xsd.models.pair import new_pair, save_pair  # noqa: E402

CORPUS = ["How many cars are there? There are two cars.", "Which way does the bus go? It goes left.",
          "Is it night? Yes, it is dark."] * 30
QUESTION = "How many cars are there?"


def models_section(profile: str) -> ModelsConfig:
    path = PROFILES_DIR / f"{profile}.yaml"
    return _build(ModelsConfig, yaml.safe_load(path.read_text())["models"], where=str(path))


@pytest.fixture(scope="module")
def smoke():
    return models_section("smoke")


@pytest.fixture(scope="module")
def pair(smoke):
    return new_pair(smoke, CORPUS, seed=0)


@pytest.fixture(scope="module")
def frames(smoke):
    rng = np.random.default_rng(0)
    size = smoke.image_size
    return (rng.integers(0, 256, (smoke.event_frames, size, size, 3), dtype=np.uint8),
            rng.integers(0, 256, (smoke.video_frames, size, size, 3), dtype=np.uint8))


def test_every_profile_has_a_valid_models_section():
    mini, full = models_section("mini"), models_section("full")
    assert mini.llm is not None and mini.trained_here and not full.trained_here
    assert full.pretrained.load_in_4bit


def test_spatio_temporal_pool_is_frame_means_then_patch_means():
    features = torch.arange(2 * 3 * 1, dtype=torch.float).view(2, 3, 1)  # frames [0,1,2] and [3,4,5]
    assert eventgpt.spatio_temporal_pool(features).flatten().tolist() == [1.0, 4.0, 1.5, 2.5, 3.5]


def test_draft_is_a_llava_with_full_last_layer_features(pair):
    config = pair.draft.config
    assert type(pair.draft).__name__ == "LlavaForConditionalGeneration"
    assert (config.vision_feature_layer, config.vision_feature_select_strategy) == (-1, "full")
    assert config.image_token_id == pair.draft_tokenizer.unk_token_id
    assert set(dict(pair.draft.model.multi_modal_projector.named_children())) == {"linear_1", "act", "linear_2"}


def test_vocabularies_differ_as_in_the_study(pair):
    draft_vocab = pair.draft.config.text_config.vocab_size
    target_vocab = pair.target.config.text_config.vocab_size
    assert draft_vocab == len(pair.draft_tokenizer)
    assert target_vocab % 64 == 0 and draft_vocab < target_vocab <= draft_vocab + 64 + 3
    assert pair.target.config.video_token_id == draft_vocab + 1
    assert pair.vocabulary().size == draft_vocab


def test_prompts_and_visual_token_counts(pair, frames, smoke):
    draft_in = eventgpt.draft_inputs(pair.draft, pair.draft_tokenizer, frames[0], QUESTION)
    target_in = videollava.target_inputs(pair.target, pair.target_tokenizer, frames[1], QUESTION)
    per_frame = (smoke.image_size // smoke.draft_tower.patch_size) ** 2 + 1
    assert (draft_in["input_ids"] == pair.draft.config.image_token_id).sum() == smoke.event_frames + per_frame
    assert (target_in["input_ids"] == pair.target.config.video_token_id).sum() == smoke.video_frames * per_frame
    draft_text = pair.draft_tokenizer.decode(draft_in["input_ids"][0], skip_special_tokens=True)
    assert draft_text.startswith("A chat between") and draft_text.endswith(f"\n{QUESTION} ASSISTANT:")
    target_text = pair.target_tokenizer.decode(target_in["input_ids"][0], skip_special_tokens=True)
    assert target_text == f"USER: \n{QUESTION} ASSISTANT:"


def test_a_tower_with_its_own_image_size_reads_more_tokens_per_frame(smoke, frames):
    """A target tower given a larger input (frames resized to it, as CLIP resizes to 224) gives
    the target more tokens per frame; the draft keeps the models' size, and a tower that leaves
    the setting out keeps its repr, which keys the trained models' cache."""
    from dataclasses import replace

    size = 2 * smoke.image_size
    models = replace(smoke, target_tower=replace(smoke.target_tower, image_size=size))
    assert "image_size" not in repr(smoke.target_tower) and f"image_size={size}" in repr(models.target_tower)
    pair = new_pair(models, CORPUS, seed=0)
    target_in = videollava.target_inputs(pair.target, pair.target_tokenizer, frames[1], QUESTION)
    per_frame = (size // models.target_tower.patch_size) ** 2 + 1
    assert target_in["pixel_values_videos"].shape[-1] == size
    assert (target_in["input_ids"] == pair.target.config.video_token_id).sum() == models.video_frames * per_frame
    assert pair.draft.config.vision_config.image_size == smoke.image_size
    tokens, _ = greedy_with_states(pair.target, target_in, max_new_tokens=3)
    assert len(tokens) > 0


@pytest.mark.parametrize("side", ["draft", "target"])
def test_greedy_generation_returns_aligned_final_states(pair, frames, side):
    model = getattr(pair, side)
    build = eventgpt.draft_inputs if side == "draft" else videollava.target_inputs
    tokenizer = getattr(pair, f"{side}_tokenizer")
    inputs = build(model, tokenizer, frames[0] if side == "draft" else frames[1], QUESTION)
    tokens, states = greedy_with_states(model, inputs, max_new_tokens=6)
    assert len(tokens) == states.shape[0] > 0
    assert states.shape[1] == model.config.text_config.hidden_size
    with torch.no_grad():
        assert torch.equal(model.lm_head(states).argmax(-1), tokens)
        # the same tokens from a plain forward over the prompt + generated tokens (teacher forcing)
        full = torch.cat([inputs["input_ids"], tokens[None, :-1]], dim=1)
        forced = {**inputs, "input_ids": full, "attention_mask": torch.ones_like(full)}
        logits = model(**forced).logits[0, inputs["input_ids"].shape[1] - 1:]
    assert torch.equal(logits.argmax(-1), tokens)


def test_pooling_changes_what_the_draft_sees(pair, frames):
    """The pooled event features really reach the LLM: other frames, other logits."""
    a = eventgpt.draft_inputs(pair.draft, pair.draft_tokenizer, frames[0], QUESTION)
    b = eventgpt.draft_inputs(pair.draft, pair.draft_tokenizer, 255 - frames[0], QUESTION)
    with torch.no_grad():
        assert not torch.allclose(pair.draft(**a).logits[0, -1], pair.draft(**b).logits[0, -1])


def test_saved_pair_loads_back_identically(pair, frames, tmp_path):
    save_pair(pair, tmp_path / "pair")
    loaded = load_saved_pair(tmp_path / "pair")
    for side, build, f in (("draft", eventgpt.draft_inputs, frames[0]), ("target", videollava.target_inputs, frames[1])):
        original, reloaded = getattr(pair, side), getattr(loaded, side)
        inputs = build(original, getattr(pair, f"{side}_tokenizer"), f, QUESTION)
        again = build(reloaded, getattr(loaded, f"{side}_tokenizer"), f, QUESTION)
        assert torch.equal(inputs["input_ids"], again["input_ids"])
        with torch.no_grad():
            assert torch.allclose(original(**inputs).logits, reloaded(**again).logits, atol=1e-6)


def test_four_bit_nf4_loads_and_generates_on_cpu(pair, frames, tmp_path):
    pytest.importorskip("bitsandbytes")
    save_pair(pair, tmp_path / "pair")
    quantised = load_saved_pair(tmp_path / "pair", load_in_4bit=True, compute_dtype="float32")
    assert quantised.draft.config.quantization_config.bnb_4bit_quant_type == "nf4"
    layer = quantised.target.model.language_model.layers[0].mlp.up_proj
    assert type(layer).__name__ == "Linear4bit"
    for side, build, f in (("draft", eventgpt.draft_inputs, frames[0]), ("target", videollava.target_inputs, frames[1])):
        model = getattr(quantised, side)
        inputs = build(model, getattr(quantised, f"{side}_tokenizer"), f, QUESTION)
        tokens, states = greedy_with_states(model, inputs, max_new_tokens=4)
        assert len(tokens) > 0 and torch.isfinite(states).all()
        with torch.no_grad():
            exact = getattr(pair, side)(**build(getattr(pair, side), getattr(pair, f"{side}_tokenizer"), f, QUESTION))
            approx = model(**inputs)
        # NF4 perturbs the weights: close to, but not equal to, the full-precision logits
        assert not torch.equal(exact.logits, approx.logits)
        assert torch.corrcoef(torch.stack([exact.logits.flatten(), approx.logits.flatten().float()]))[0, 1] > 0.9


def test_load_errors_name_the_path_and_the_problem(pair, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ModelLoadError, match=f"{missing}.*does not exist"):
        load_draft(missing)
    save_pair(pair, tmp_path / "pair")
    with pytest.raises(ModelLoadError, match="incompatible.*video_llava"):
        load_target(tmp_path / "pair" / "draft")  # a Llava is not a Video-LLaVA
    for weights in (tmp_path / "pair" / "target").glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelLoadError, match="holds no weights"):
        load_target(tmp_path / "pair" / "target")
    config_file = tmp_path / "pair" / "draft" / "config.json"
    config = json.loads(config_file.read_text())
    config["text_config"]["hidden_size"] *= 2  # weights no longer fit
    config_file.write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="draft"):
        load_draft(tmp_path / "pair" / "draft")


def test_the_tokenizer_knows_the_prompt_templates(pair):
    from xsd.models.eventgpt import VICUNA_SYSTEM

    assert len(pair.draft_tokenizer(VICUNA_SYSTEM, add_special_tokens=False)["input_ids"]) < 40
