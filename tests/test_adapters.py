import pytest
import torch

from xsd.adapters import ADAPTERS, NEXT_STATE, KVCache, TokenAdapter, create_adapter, parameter_count

H = 64


def _inputs(name, batch=2, length=9, seed=0):
    generator = torch.Generator().manual_seed(seed)
    egpt = torch.randn(batch, length, H, generator=generator)
    vl = torch.randn(batch, length, H, generator=generator)
    return {"L5": (egpt,), "B1": (vl,), "L5F": (egpt, vl)}.get(name, (egpt,))


def _output(adapter, *inputs, cache=None):
    out = adapter(*inputs, cache=cache)
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("name", ADAPTERS)
def test_forward_shapes(name):
    torch.manual_seed(0)
    sizes = {} if name in ("L1", "L2", "L3") else {"heads": 4}
    adapter = create_adapter(name, H, **sizes)
    out = adapter(*_inputs(name))
    if name in NEXT_STATE:
        next_state, aligned = out
        assert next_state.shape == (2, 9, H)
        assert aligned is not None and aligned.shape == (2, 9, H)
    else:
        assert out.shape == (2, 9, H)


@pytest.mark.parametrize("name", ["L4", "L5", "B1", "L5F"])
def test_causal_adapters_never_look_ahead(name):
    torch.manual_seed(0)
    adapter = create_adapter(name, H, heads=4).eval()
    inputs = _inputs(name)
    changed = tuple(x.clone() for x in inputs)
    for x in changed:
        x[:, 5:] += torch.randn_like(x[:, 5:]) * 3  # change positions 5.. only
    before, after = _output(adapter, *inputs), _output(adapter, *changed)
    torch.testing.assert_close(before[:, :5], after[:, :5])
    assert not torch.allclose(before[:, 5:], after[:, 5:])


@pytest.mark.parametrize("name", ["L4", "L5", "B1", "L5F"])
def test_kv_cache_steps_equal_the_full_forward(name):
    torch.manual_seed(0)
    adapter = create_adapter(name, H, heads=4).eval()
    inputs = _inputs(name, batch=1)
    full = _output(adapter, *inputs)
    cache = KVCache()
    steps = [_output(adapter, *(x[:, :4] for x in inputs), cache=cache)]
    steps += [_output(adapter, *(x[:, t:t + 1] for x in inputs), cache=cache) for t in range(4, 9)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_kv_cache_crop_then_continue_equals_recomputing():
    torch.manual_seed(0)
    adapter = create_adapter("B1", H, heads=4).eval()
    (vl,) = _inputs("B1", batch=1)
    cache = KVCache()
    _output(adapter, vl[:, :7], cache=cache)
    cache.crop(4)  # drop 3 rejected positions
    continued = _output(adapter, vl[:, 4:6], cache=cache)
    torch.testing.assert_close(continued, _output(adapter, vl[:, :6])[:, 4:6], atol=1e-5, rtol=1e-5)


def test_per_position_adapters_are_pointwise():
    torch.manual_seed(0)
    for name in ("L1", "L2", "L3"):
        adapter = create_adapter(name, H).eval()
        (x,) = _inputs(name)
        torch.testing.assert_close(adapter(x)[:, 3], adapter(x[:, 3:4])[:, 0])


@pytest.mark.parametrize("name, millions", [("L1", 2.1), ("L2", 6.3), ("L3", 8.4), ("L4", 101), ("L5", 103),
                                            ("B1", 103), ("L5F", 170)])
def test_parameter_counts_at_the_seeds_hidden_size(name, millions):
    with torch.device("meta"):
        adapter = create_adapter(name, 4096)
    assert parameter_count(adapter) / 1e6 == pytest.approx(millions, rel=0.05)


def test_token_adapter_has_the_seeds_size_and_maps_vocabularies():
    with torch.device("meta"):
        assert parameter_count(TokenAdapter(32000, 32064)) / 1e6 == pytest.approx(45.5, rel=0.02)
    adapter = TokenAdapter(50, 54, width=32, layers=2, heads=4)
    logits = adapter(torch.randint(0, 50, (3, 7)))
    assert logits.shape == (3, 7, 54)


def test_unknown_adapter_and_bad_sizes_fail_clearly():
    with pytest.raises(ValueError, match="unknown adapter 'L9'"):
        create_adapter("L9", H)
    with pytest.raises(ValueError, match="not divisible"):
        create_adapter("L4", 60, heads=8)


def test_alignment_output_can_be_dropped():
    head = create_adapter("L5", H, heads=4, align=False)
    _, aligned = head(*_inputs("L5"))
    assert aligned is None


@pytest.mark.parametrize("name", NEXT_STATE)
def test_next_state_is_the_forward_prediction_step_by_step(name):
    """What a drafter calls (`next_state`, one position at a time through the cache) is the
    trained forward's next-state output."""
    torch.manual_seed(0)
    adapter = create_adapter(name, H, heads=4).eval()
    inputs = _inputs(name, batch=1)
    full, _ = adapter(*inputs)
    cache = KVCache()
    steps = [adapter.next_state(*(x[:, :3] for x in inputs), cache=cache)]
    steps += [adapter.next_state(*(x[:, t:t + 1] for x in inputs), cache=cache) for t in range(3, 9)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
