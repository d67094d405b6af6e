import math

import pytest

from xsd import costmodel


@pytest.mark.parametrize("alpha, gamma, expected", [
    (0.0, 5, 1.0),                      # nothing accepted: the bonus token only
    (0.5, 1, 1.5),                      # 1 + 0.5
    (0.5, 3, 1 + 0.5 + 0.25 + 0.125),
    (0.279, 5, 1.386308383),            # the seeds' example
    (1.0, 5, 6.0),                      # the α = 1 limit: γ + 1
])
def test_expected_tokens_hand_values(alpha, gamma, expected):
    assert costmodel.expected_tokens(alpha, gamma) == pytest.approx(expected, rel=1e-9)


def test_expected_tokens_is_continuous_at_alpha_one():
    assert costmodel.expected_tokens(1 - 1e-9, 7) == pytest.approx(8.0, rel=1e-6)


def test_expected_tokens_increases_with_alpha_and_gamma():
    alphas = [i / 20 for i in range(21)]
    values = [costmodel.expected_tokens(a, 5) for a in alphas]
    assert all(b > a for a, b in zip(values, values[1:]))
    assert costmodel.expected_tokens(0.6, 4) > costmodel.expected_tokens(0.6, 3)


def test_sd_speedup_hand_values():
    assert costmodel.sd_speedup(0.5, 1, 0.5) == pytest.approx(1.5 / 1.5)
    assert costmodel.sd_speedup(0.279, 5, 0.93) == pytest.approx(1.386308383 / 5.65, rel=1e-8)
    assert costmodel.sd_speedup(1.0, 4, 0.0) == pytest.approx(5.0)


def test_sd_speedup_monotone_in_alpha_and_antitone_in_c():
    speedups = [costmodel.sd_speedup(a / 50, 5, 0.2) for a in range(51)]
    assert all(b > a for a, b in zip(speedups, speedups[1:]))
    assert costmodel.sd_speedup(0.7, 5, 0.1) > costmodel.sd_speedup(0.7, 5, 0.3)


def test_required_alpha_for_the_seeds_example_is_not_095():
    alpha = costmodel.required_alpha(5, 0.93)
    assert alpha == pytest.approx(0.97591, abs=1e-5)
    assert costmodel.sd_speedup(0.95, 5, 0.93) < 1.0


@pytest.mark.parametrize("gamma, c", [(1, 0.1), (3, 0.3), (5, 0.93), (8, 0.05), (2, 1.0), (4, 0.999)])
def test_required_alpha_round_trip(gamma, c):
    alpha = costmodel.required_alpha(gamma, c)
    assert costmodel.sd_speedup(alpha, gamma, c) == pytest.approx(1.0, abs=1e-6)
    assert costmodel.sd_speedup(max(alpha - 1e-5, 0.0), gamma, c) < 1.0


def test_required_alpha_hand_value_gamma_one():
    # γ = 1: (1 + α) / (1 + c) = 1  =>  α = c
    assert costmodel.required_alpha(1, 0.37) == pytest.approx(0.37, abs=1e-6)


def test_required_alpha_is_zero_for_a_free_draft():
    assert costmodel.required_alpha(5, 0.0) == 0.0


def test_required_alpha_raises_when_no_alpha_suffices():
    with pytest.raises(ValueError, match="no acceptance rate"):
        costmodel.required_alpha(5, 1.2)


def test_optimal_gamma():
    assert costmodel.optimal_gamma(0.279, 0.93) == 1
    # brute force agrees
    for alpha, c in [(0.8, 0.05), (0.6, 0.1), (0.9, 0.02)]:
        best = costmodel.optimal_gamma(alpha, c, max_gamma=32)
        speeds = {g: costmodel.sd_speedup(alpha, g, c) for g in range(1, 33)}
        assert speeds[best] == max(speeds.values())
    assert costmodel.optimal_gamma(0.8, 0.05) == 8
    assert costmodel.optimal_gamma(1.0, 0.0, max_gamma=12) == 12


def test_two_phase_speedup_reproduces_the_seeds_constants():
    common = dict(n_tokens=50, t_vl_prefill=310, t_vl_decode=25, t_adapter=1.5, t_egpt_prefill=130)
    # L5F-only: 1560 / (310 + 50/1.73 · 26.5)
    expected = 1560 / (310 + 50 / 1.73 * 26.5)
    assert costmodel.two_phase_speedup(free_tokens=0, alpha_decode=0.73, **common) == pytest.approx(expected)
    assert costmodel.two_phase_speedup(free_tokens=0, alpha_decode=0.73, **common) == pytest.approx(1.45, abs=0.005)
    assert costmodel.two_phase_speedup(free_tokens=0, alpha_decode=0.51, **common) == pytest.approx(1.31, abs=0.005)
    assert costmodel.two_phase_speedup(free_tokens=4.85, alpha_decode=0.73, **common) == pytest.approx(1.56, abs=0.005)


def test_two_phase_speedup_prefill_is_the_max_of_both_sides():
    base = dict(n_tokens=10, free_tokens=0, alpha_decode=0.0, t_vl_decode=10, t_adapter=0)
    # draft prefill longer than the target's: the longer one counts
    slow_draft = costmodel.two_phase_speedup(t_vl_prefill=100, t_egpt_prefill=300, **base)
    assert slow_draft == pytest.approx((100 + 100) / (300 + 100))
    fast_draft = costmodel.two_phase_speedup(t_vl_prefill=100, t_egpt_prefill=30, **base)
    assert fast_draft == pytest.approx(1.0)


def test_prefill_window_slots():
    assert costmodel.prefill_window_slots(t_vl_prefill=470, t_egpt_prefill=97, t_egpt_decode=14) == 26
    assert costmodel.prefill_window_slots(t_vl_prefill=100, t_egpt_prefill=200, t_egpt_decode=10) == 0


@pytest.mark.parametrize("call, name", [
    (lambda: costmodel.expected_tokens(-0.1, 5), "alpha"),
    (lambda: costmodel.expected_tokens(1.1, 5), "alpha"),
    (lambda: costmodel.expected_tokens(0.5, 0), "gamma"),
    (lambda: costmodel.expected_tokens(0.5, 2.5), "gamma"),
    (lambda: costmodel.sd_speedup(0.5, 3, -0.1), "c"),
    (lambda: costmodel.required_alpha(0, 0.5), "gamma"),
    (lambda: costmodel.optimal_gamma(0.5, 0.5, max_gamma=0), "max_gamma"),
    (lambda: costmodel.optimal_gamma(1.5, 0.5), "alpha"),
    (lambda: costmodel.two_phase_speedup(n_tokens=50, free_tokens=0, alpha_decode=0.7, t_vl_prefill=-1,
                                         t_vl_decode=25, t_adapter=1, t_egpt_prefill=10), "t_vl_prefill"),
    (lambda: costmodel.two_phase_speedup(n_tokens=50, free_tokens=0, alpha_decode=0.7, t_vl_prefill=1,
                                         t_vl_decode=25, t_adapter=math.nan, t_egpt_prefill=10), "t_adapter"),
    (lambda: costmodel.two_phase_speedup(n_tokens=5, free_tokens=6, alpha_decode=0.7, t_vl_prefill=1,
                                         t_vl_decode=25, t_adapter=1, t_egpt_prefill=10), "free_tokens"),
])
def test_out_of_range_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def _honest(**changes):
    values = dict(n_tokens=21, free_tokens=2, tau=3.0, gamma=3, t_vl_prefill=50.0, t_vl_decode=10.0,
                  t_verify_phase1=12.0, t_verify=15.0, t_head=1.0, t_egpt_prefill=20.0, t_egpt_decode=4.0)
    values.update(changes)
    return costmodel.honest_two_phase(**values)


def test_honest_two_phase_by_hand():
    result = _honest()
    # base: 50 + 20·10 = 250; rounds: (21 − 1 − 3) / 3 = 17/3; round: 15 + 3·1 = 18 (> 3·4 = 12)
    assert result["t_base"] == pytest.approx(250)
    assert result["rounds"] == pytest.approx(17 / 3)
    assert result["t_sd"] == pytest.approx(50 + 12 + 17 / 3 * 18)
    assert not result["draft_bound"]


def test_honest_two_phase_waits_for_a_slow_draft_and_pays_for_it_on_one_core():
    slow = _honest(t_egpt_decode=9.0)
    assert slow["draft_bound"] and slow["round_time"] == pytest.approx(27)
    one_core = _honest(concurrent=False)
    assert one_core["t_sd"] == pytest.approx(50 + 12 + 17 / 3 * 18 + 20 + 21 * 4)


def test_honest_two_phase_counts_free_tokens_from_token_0_as_the_metric_does():
    # a run of 3 from t = 0 is token 0 confirmed and 2 accepted beyond it: the same as free_tokens=2 beyond token 0
    from_token0 = _honest(free_tokens=3, free_from_token0=True)
    assert from_token0["rounds"] == pytest.approx(_honest()["rounds"]) == pytest.approx((21 - 1 - 3) / 3)
    # no phase 1: the prefill's token 0, then N − 1 tokens in rounds, no phase-1 verify
    alone = _honest(free_tokens=0, free_from_token0=True, t_verify_phase1=0.0)
    assert alone["rounds"] == pytest.approx(20 / 3)
    assert alone["t_sd"] == pytest.approx(50 + 20 / 3 * 18)


def test_honest_two_phase_rejects_tau_below_one():
    with pytest.raises(ValueError, match="tau"):
        _honest(tau=0.5)


def test_the_chain_ceiling_is_tau_steps_over_one_verify_and_gamma_head_steps():
    # τ = 3 tokens per round; a round costs one verify over γ + 1 = 4 tokens and 3 head steps
    assert costmodel.chain_ceiling(3.0, t_decode=10.0, t_verify=12.0, gamma=3, t_head=1.0) == pytest.approx(2.0)
    # free heads and a verify that costs a decode step: the ceiling is τ itself
    assert costmodel.chain_ceiling(2.5, t_decode=8.0, t_verify=8.0, gamma=4, t_head=0.0) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="gamma"):
        costmodel.chain_ceiling(2.0, 1.0, 1.0, gamma=0, t_head=0.1)
