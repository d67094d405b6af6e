import math

import pytest
import torch

from xsd import metrics


def _vectors(*angles_deg):
    """Unit 2-d vectors at the given angles from the x axis, as one sequence [1, T, 2]."""
    radians = torch.tensor(angles_deg, dtype=torch.float64) * math.pi / 180
    return torch.stack([radians.cos(), radians.sin()], dim=-1)[None]


def test_cos_stats_and_accept_at_on_known_angles():
    target = _vectors(0, 0, 0, 0)
    pred = _vectors(0, 30, 60, 90)  # cos = 1, 0.866, 0.5, 0
    mask = torch.tensor([[True, True, True, False]])  # the 90° position is padding
    stats = metrics.cos_stats(pred, target, mask)
    values = torch.tensor([1.0, math.sqrt(3) / 2, 0.5])
    assert stats["cos_mean"] == pytest.approx(values.mean().item(), abs=1e-6)
    assert stats["cos_std"] == pytest.approx(values.std(unbiased=False).item(), abs=1e-6)
    accepted = metrics.accept_at(pred, target, mask)
    assert accepted == pytest.approx({"accept@0.80": 2 / 3, "accept@0.85": 2 / 3,
                                      "accept@0.90": 1 / 3, "accept@0.95": 1 / 3})


def test_consecutive_accepts_stop_at_the_first_miss():
    target = _vectors(0, 0, 0, 0, 0).repeat(2, 1, 1)
    pred = torch.cat([_vectors(0, 5, 60, 0, 0), _vectors(0, 0, 0, 0, 0)])
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    result = metrics.consecutive_accepts(pred, target, mask, threshold=0.9)
    assert result == {"consecutive_mean": (2 + 3) / 2, "consecutive_max": 3}


def test_lm_tokens_top1_and_topk():
    lm_head = torch.eye(4)  # token i is read off dimension i
    hidden = torch.tensor([[[0.1, 0.9, 0.3, 0.0], [0.5, 0.1, 0.2, 0.7]]])
    assert metrics.lm_tokens(hidden, lm_head).tolist() == [[1, 3]]
    assert metrics.lm_tokens(hidden, lm_head, k=2).tolist() == [[[1, 2], [3, 0]]]


def test_token_top1_ignores_padding():
    pred = torch.tensor([[1, 2, 3, 9], [4, 0, 0, 0]])
    ref = torch.tensor([[1, 5, 3, 0], [4, 4, 0, 0]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    assert metrics.token_top1(pred, ref, mask) == pytest.approx(3 / 5)


def test_prefill_free_tokens_counts_the_matching_run_within_the_slots():
    ref = torch.arange(10)[None].repeat(3, 1)
    pred = ref.clone()
    pred[0, 2] = -1        # run of 2
    pred[1, 9] = -1        # all of the first 7 match: capped at 7
    pred[2, 0] = -1        # run of 0
    mask = torch.ones_like(ref, dtype=torch.bool)
    assert metrics.prefill_free_tokens(pred, ref, mask, slots=7) == pytest.approx((2 + 7 + 0) / 3)
    mask[1, 4:] = False    # a 4-token answer cannot give more than 4 free tokens
    assert metrics.prefill_free_tokens(pred, ref, mask, slots=7) == pytest.approx((2 + 4 + 0) / 3)


def test_shifted_topk_compares_with_the_next_token():
    lm_head = torch.eye(5)
    # predictions at t = 0, 1, 2 point at tokens 1, 4, 3; the reference sequence is 0, 1, 2, 3
    pred = torch.zeros(1, 4, 5)
    pred[0, 0, 1] = 1.0
    pred[0, 1, 4], pred[0, 1, 2] = 1.0, 0.5
    pred[0, 2, 3] = 1.0
    tokens = torch.tensor([[0, 1, 2, 3]])
    mask = torch.ones_like(tokens, dtype=torch.bool)
    result = metrics.shifted_topk(pred, lm_head, tokens, mask, k=2)
    assert result["shifted_top1"] == pytest.approx(2 / 3)  # t=0 → 1 ✓, t=1 → 4 ✗ (2 is second), t=2 → 3 ✓
    assert result["shifted_top2"] == pytest.approx(1.0)


def test_window_streaks_by_hand():
    correct = torch.tensor([[True, True, False, True, True, True, True]])
    mask = torch.ones_like(correct)
    streaks = metrics.window_streaks(correct, mask, gamma=3)
    # windows at 0..6: [T,T,F]=2, [T,F,T]=1, [F..]=0, [T,T,T]=3, [T,T,T]=3, [T,T,(end)]=2, [T,(end)]=1
    assert streaks.tolist() == [[2, 1, 0, 3, 3, 2, 1]]
    summary = metrics.first_window_and_mean(streaks, mask)
    assert summary["first_window"] == 2
    assert summary["all_windows"] == pytest.approx(12 / 7)
    at_rounds = metrics.window_streaks(correct, mask, gamma=3, starts=torch.tensor([0, 3, 6]))
    assert at_rounds.tolist() == [[2, 3, 1]]


def test_window_streaks_respect_padding():
    correct = torch.ones(1, 6, dtype=torch.bool)
    mask = torch.tensor([[True, True, True, True, False, False]])
    assert metrics.window_streaks(correct, mask, gamma=5)[0, :3].tolist() == [4, 3, 2]


def test_tau_counts_the_bonus_token():
    # three rounds emitting 3, 1 and 6 tokens (accepted drafts + 1 each), one target forward each
    assert metrics.tau(torch.tensor([3, 1, 6]), torch.tensor([1, 1, 1])) == pytest.approx(10 / 3)


def test_per_position_acceptance_by_hand():
    # γ = 3; rounds accepted 0, 1, 3, 2 drafts
    rates = metrics.per_position_acceptance(torch.tensor([0, 1, 3, 2]), gamma=3)
    # position 1: reached by 4 rounds, accepted by 3; position 2: reached 3, accepted 2;
    # position 3: reached 2, accepted 1
    assert rates.tolist() == pytest.approx([3 / 4, 2 / 3, 1 / 2])
    assert math.isnan(metrics.per_position_acceptance(torch.tensor([0, 0]), gamma=3)[2].item())


def test_wilson_interval_matches_known_values_and_stays_in_range():
    low, high = metrics.wilson_interval(50, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)
    assert metrics.wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert metrics.wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    narrow, wide = metrics.wilson_interval(180, 360), metrics.wilson_interval(20, 40)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


@pytest.mark.parametrize("hits,n", [(1, 0), (-1, 5), (6, 5)])
def test_wilson_interval_rejects_impossible_counts(hits, n):
    with pytest.raises(ValueError, match="hits"):
        metrics.wilson_interval(hits, n)
