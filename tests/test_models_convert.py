"""The EventGPT converter: a tiny random checkpoint in EventGPT's own key layout, converted,
must compute what EventGPT's own pipeline computes (tower → projector → adaptor → pooling)."""
import json

import pytest
import torch

pytest.importorskip("transformers")

from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from xsd.models import convert_eventgpt as conv  # noqa: E402
from xsd.models.loading import ModelLoadError, load_draft  # noqa: E402

CLIP = dict(hidden_size=128, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,  # CLIP head_dim 64
            image_size=32, patch_size=8)
LLAMA = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
             rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2)


def original_checkpoint(seed=0):
    """EventGPT's modules, with random weights, saved under EventGPT's key names."""
    torch.manual_seed(seed)
    clip = CLIPVisionModel(CLIPVisionConfig(**CLIP)).eval()
    llama = LlamaForCausalLM(LlamaConfig(**LLAMA, tie_word_embeddings=False)).eval()
    c, h = CLIP["hidden_size"], LLAMA["hidden_size"]
    state = {f"model.visual_tower.visual_tower.vision_model.{k}": v for k, v in clip.state_dict().items()}
    state.update(llama.state_dict())
    state.update({
        "model.visual_projector.0.weight": torch.randn(h, c) * 0.2, "model.visual_projector.0.bias": torch.randn(h),
        "model.visual_projector.2.weight": torch.randn(h, h) * 0.2, "model.visual_projector.2.bias": torch.randn(h),
        "model.feature_adaptor.weight": torch.randn(h, h) * 0.2, "model.feature_adaptor.bias": torch.randn(h),
    })
    return state, clip, llama


def reference_logits(state, clip, llama, pixels, ids_before, ids_after):
    """EventGPT's forward written out by hand: per frame tower → MLP → adaptor, then pooling."""
    per_frame = clip(pixels).last_hidden_state  # [k, s, c], CLS kept, before post-layernorm
    x = per_frame @ state["model.visual_projector.0.weight"].T + state["model.visual_projector.0.bias"]
    x = torch.nn.functional.gelu(x)
    x = x @ state["model.visual_projector.2.weight"].T + state["model.visual_projector.2.bias"]
    x = x @ state["model.feature_adaptor.weight"].T + state["model.feature_adaptor.bias"]
    pooled = torch.cat([x.mean(1), x.mean(0)])  # k frame tokens, then s patch tokens
    embed = llama.get_input_embeddings()
    embeds = torch.cat([embed(torch.tensor(ids_before)), pooled, embed(torch.tensor(ids_after))])
    return llama(inputs_embeds=embeds[None]).logits[0]


def write_original(directory, state):
    directory.mkdir()
    save_file({k: v.contiguous() for k, v in state.items()}, directory / "model.safetensors")
    config = {"model_type": "EventChat_llama", "mm_visual_tower": "clip-vit-large-patch14-336", **LLAMA}
    (directory / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("n_frames", [1, 3])
def test_converted_model_matches_eventgpt_reference(tmp_path, n_frames):
    state, clip, llama = original_checkpoint()
    write_original(tmp_path / "orig", state)
    conv.convert_checkpoint(tmp_path / "orig", tmp_path / "llava")
    model = load_draft(tmp_path / "llava")
    from xsd.models.eventgpt import as_encoder_outputs, pooled_event_features

    torch.manual_seed(1)
    pixels = torch.randn(n_frames, 3, 32, 32)
    before, after = [1, 5, 6, 7], [8, 9, 10]
    with torch.no_grad():
        expected = reference_logits(state, clip, llama, pixels, before, after)
        pooled = pooled_event_features(model, pixels)
        ids = torch.tensor([before + [model.config.image_token_id] * pooled.shape[0] + after])
        logits = model(input_ids=ids, mm_encoder_outputs=as_encoder_outputs([pooled])).logits[0]
    assert pooled.shape[0] == n_frames + (32 // 8) ** 2 + 1
    assert logits.shape == expected.shape
    assert torch.allclose(logits, expected, atol=1e-5, rtol=0)


def test_fold_is_exact_composition():
    torch.manual_seed(0)
    w2, b2, wa, ba = torch.randn(8, 8), torch.randn(8), torch.randn(8, 8), torch.randn(8)
    w, b = conv.fold_adaptor(w2, b2, wa, ba)
    x = torch.randn(5, 8).double()
    composed = (x @ w2.double().T + b2.double()) @ wa.double().T + ba.double()
    assert torch.allclose(x @ w.T + b, composed, atol=1e-10)


def test_unknown_or_missing_keys_are_named():
    state, _, _ = original_checkpoint()
    with pytest.raises(conv.ConversionError, match="query_embeddings"):
        conv.convert_state_dict({**state, "model.query_embeddings": torch.zeros(2)})
    del state["model.feature_adaptor.bias"]
    with pytest.raises(conv.ConversionError, match="feature_adaptor.bias"):
        conv.convert_state_dict(state)


def test_loading_an_unconverted_checkpoint_says_convert_first(tmp_path):
    state, _, _ = original_checkpoint()
    write_original(tmp_path / "orig", state)
    with pytest.raises(ModelLoadError, match="convert-eventgpt"):
        load_draft(tmp_path / "orig")
