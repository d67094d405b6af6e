"""The static-cache target (CUDA graphs on a GPU) computes what the eager target computes, and the
verification loop over it stays lossless."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from xsd.decode import Target, speculative_generate
from xsd.decode.drafters import NoDrafts
from xsd.decode.static_target import StaticTarget

VOCAB = 64


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(20)
    return model


def _inputs(seed, length=7):
    ids = torch.randint(3, VOCAB, (1, length), generator=torch.Generator().manual_seed(seed))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def test_static_steps_match_the_eager_target_through_forwards_and_crops(model):
    eager, static = Target(model), StaticTarget(model, max_length=40, max_k=4)
    inputs = _inputs(1)
    logits_e, hidden_e, cache_e = eager.prefill(inputs)
    logits_s, hidden_s, cache_s = static.prefill(inputs)
    torch.testing.assert_close(logits_s, logits_e)
    assert cache_s.get_seq_length() == cache_e.get_seq_length() == 7
    # a decode step, a verify forward over 4 tokens, a crop back by 2, a forward over 6 (past max_k)
    for tokens, keep in (([5], None), ([9, 11, 13, 15], 10), ([4, 6, 8, 10, 12, 14], None)):
        out_e, out_s = eager.forward(tokens, cache_e), static.forward(tokens, cache_s)
        torch.testing.assert_close(out_s[0], out_e[0], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(out_s[1], out_e[1], rtol=1e-4, atol=1e-4)
        if keep is not None:
            eager.crop(cache_e, keep)
            static.crop(cache_s, keep)
        assert cache_s.get_seq_length() == cache_e.get_seq_length()


def test_greedy_decoding_over_the_static_cache_equals_generate(model):
    inputs = _inputs(2)
    reference = model.generate(**inputs, max_new_tokens=12, do_sample=False, pad_token_id=0)[0, 7:].tolist()
    result = speculative_generate(StaticTarget(model, max_length=32), inputs, NoDrafts(), 12)
    assert result.stats.target_forwards == 11  # one forward per token after the prefill's
    assert result.tokens == reference


def test_a_prompt_longer_than_the_static_cache_is_a_clear_error(model):
    with pytest.raises(ValueError, match="static cache"):
        StaticTarget(model, max_length=5).prefill(_inputs(3, length=7))
