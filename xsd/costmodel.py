"""Speculative-decoding theory and the seeds' offline two-phase proxy.

Notation (methods §4): α is the probability that a drafted token is accepted given that
the ones before it were, γ the number of tokens drafted per round, and c = T_draft / T_target
the cost of one draft step relative to one target decode step.
"""
from __future__ import annotations

import math


def expected_tokens(alpha: float, gamma: int) -> float:
    """Expected tokens per SD round, bonus token included: (1 − α^(γ+1)) / (1 − α).

    At α = 1 every draft is accepted and the round yields γ + 1 tokens.
    """
    _check_alpha(alpha)
    _check_gamma(gamma)
    if alpha == 1.0:
        return float(gamma + 1)
    return (1.0 - alpha ** (gamma + 1)) / (1.0 - alpha)


def sd_speedup(alpha: float, gamma: int, c: float) -> float:
    """Classic SD speedup over autoregressive decoding: E(α, γ) / (1 + c·γ)."""
    _check_nonnegative("c", c)
    return expected_tokens(alpha, gamma) / (1.0 + c * gamma)


def required_alpha(gamma: int, c: float) -> float:
    """Smallest α in [0, 1] with sd_speedup(α, γ, c) ≥ 1, to within 1e-6.

    The speedup rises monotonically with α, so bisection finds the threshold. At α = 1 the
    speedup is (γ + 1) / (1 + c·γ), which reaches 1 only when c ≤ 1.
    """
    _check_gamma(gamma)
    _check_nonnegative("c", c)
    if sd_speedup(1.0, gamma, c) < 1.0:
        raise ValueError(
            f"no acceptance rate in [0, 1] makes SD faster than autoregressive decoding "
            f"at gamma={gamma}, c={c}: even α = 1 gives {sd_speedup(1.0, gamma, c):.3f}× (needs c ≤ 1)"
        )
    if sd_speedup(0.0, gamma, c) >= 1.0:
        return 0.0
    low, high = 0.0, 1.0  # speedup(low) < 1 <= speedup(high)
    while high - low > 1e-9:
        middle = (low + high) / 2
        if sd_speedup(middle, gamma, c) >= 1.0:
            high = middle
        else:
            low = middle
    return high


def optimal_gamma(alpha: float, c: float, max_gamma: int = 32) -> int:
    """The γ in 1..max_gamma with the highest classic SD speedup (the smallest on ties).

    It is returned even when that best speedup is below 1; compare with sd_speedup to know.
    """
    _check_alpha(alpha)
    _check_nonnegative("c", c)
    _check_gamma(max_gamma, name="max_gamma")
    return max(range(1, max_gamma + 1), key=lambda g: (sd_speedup(alpha, g, c), -g))


def two_phase_speedup(
    *,
    n_tokens: float,
    free_tokens: float,
    alpha_decode: float,
    t_vl_prefill: float,
    t_vl_decode: float,
    t_adapter: float,
    t_egpt_prefill: float,
) -> float:
    """The seeds' offline proxy for the two-phase decoder, exactly as they computed it.

    T_base = P_vl + N·D_vl
    T_sd   = max(P_vl, P_egpt + A) + ((N − free) / (α + 1))·(D_vl + A)

    Iterations are fractional, every round costs one target decode step plus one adapter
    call, and nothing is charged for the draft's own decoding or for verifying γ + 1
    positions at once: these are the proxy's assumptions, not facts about a live decoder.
    Here `alpha_decode` is the mean accepted streak per round (the seeds' "α"), not a
    per-token probability, so it may exceed 1.
    """
    for name, value in {
        "n_tokens": n_tokens, "free_tokens": free_tokens, "alpha_decode": alpha_decode,
        "t_vl_prefill": t_vl_prefill, "t_vl_decode": t_vl_decode, "t_adapter": t_adapter,
        "t_egpt_prefill": t_egpt_prefill,
    }.items():
        _check_nonnegative(name, value)
    if free_tokens > n_tokens:
        raise ValueError(f"free_tokens ({free_tokens}) cannot exceed n_tokens ({n_tokens})")
    t_base = t_vl_prefill + n_tokens * t_vl_decode
    rounds = (n_tokens - free_tokens) / (alpha_decode + 1.0)
    t_sd = max(t_vl_prefill, t_egpt_prefill + t_adapter) + rounds * (t_vl_decode + t_adapter)
    return t_base / t_sd


def prefill_window_slots(*, t_vl_prefill: float, t_egpt_prefill: float, t_egpt_decode: float) -> int:
    """How many draft tokens the draft can decode while the target is still prefilling."""
    for name, value in {"t_vl_prefill": t_vl_prefill, "t_egpt_prefill": t_egpt_prefill}.items():
        _check_nonnegative(name, value)
    if not t_egpt_decode > 0:
        raise ValueError(f"t_egpt_decode must be positive, got {t_egpt_decode}")
    return max(0, math.floor((t_vl_prefill - t_egpt_prefill) / t_egpt_decode))


# -- argument checks ------------------------------------------------------------------------------

def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")


def _check_gamma(gamma: int, name: str = "gamma") -> None:
    if isinstance(gamma, bool) or int(gamma) != gamma or gamma < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {gamma}")


def _check_nonnegative(name: str, value: float) -> None:
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {value}")


def honest_two_phase(
    *,
    n_tokens: float,
    free_tokens: float,
    tau: float,
    gamma: int,
    t_vl_prefill: float,
    t_vl_decode: float,
    t_verify_phase1: float,
    t_verify: float,
    t_head: float,
    t_egpt_prefill: float,
    t_egpt_decode: float,
    t_overhead_per_round: float = 0.0,
    concurrent: bool = True,
    free_from_token0: bool = False,
) -> dict:
    """The two-phase decoder's time with every cost the live decoder pays (methods §4).

    Autoregressive baseline: the prefill yields token 0, then N − 1 decode steps.
    Two-phase: the target prefills while the draft prefills and decodes; one verify forward over
    the phase-1 candidates yields 1 + `free_tokens` tokens; the rest comes in rounds of γ head
    steps plus one verify forward over γ + 1 positions, τ tokens a round (bonus included). L5F
    reads the draft model's state for every position, so the draft VLM must keep up: it makes
    one state per `t_egpt_decode`; a round that consumes τ positions lasts at least τ·t_egpt_decode.
    With `concurrent=False` (one core) the draft's work adds to the target's instead.
    `free_from_token0`: `free_tokens` is the run of matching candidates counted from t = 0, as
    `metrics.prefill_free_tokens` and the seeds' proxy count it (its first match only confirms the
    prefill's token 0), instead of the candidates accepted beyond token 0: the phase-1 verify then
    yields `free_tokens` tokens besides token 0 (k − 1 accepted and the bonus), which holds in the
    mean too; a run of 0, where the live decoder skips phase 1, leaves N − 1 tokens as well (its
    phase-1 verify is still charged). With `free_tokens=0` and `t_verify_phase1=0` this is a decoder
    without phase 1.
    Returns the two times, the speedup and each term.
    """
    for name, value in {
        "n_tokens": n_tokens, "free_tokens": free_tokens, "t_vl_prefill": t_vl_prefill,
        "t_vl_decode": t_vl_decode, "t_verify_phase1": t_verify_phase1, "t_verify": t_verify,
        "t_head": t_head, "t_egpt_prefill": t_egpt_prefill, "t_egpt_decode": t_egpt_decode,
        "t_overhead_per_round": t_overhead_per_round,
    }.items():
        _check_nonnegative(name, value)
    _check_gamma(gamma)
    if not tau >= 1:
        raise ValueError(f"tau must be >= 1 (a round always yields the target's own token), got {tau}")
    t_base = t_vl_prefill + (n_tokens - 1) * t_vl_decode
    beyond_token0 = free_tokens if free_from_token0 else 1 + free_tokens  # what the phase-1 verify yields
    remaining = max(n_tokens - 1 - beyond_token0, 0.0)
    rounds = remaining / tau
    round_target = t_verify + gamma * t_head + t_overhead_per_round
    draft_total = t_egpt_prefill + n_tokens * t_egpt_decode
    if concurrent:
        round_time = max(round_target, tau * t_egpt_decode)
        t_sd = t_vl_prefill + t_verify_phase1 + rounds * round_time
    else:
        round_time = round_target
        t_sd = t_vl_prefill + t_verify_phase1 + rounds * round_time + draft_total
    return {
        "t_base": t_base, "t_sd": t_sd, "speedup": t_base / t_sd, "rounds": rounds, "round_time": round_time,
        "round_target_time": round_target, "draft_bound": concurrent and tau * t_egpt_decode > round_target,
    }


def honest_two_phase_beside(*, t_vl_prefill_sd: float | None = None, **inputs) -> dict:
    """`honest_two_phase`, where the two-phase decoder's target prefill may take `t_vl_prefill_sd`
    instead of the baseline's `t_vl_prefill` (the draft VLM prefilling beside it slows it down; None:
    the same), and the decode phase on its own: everything after the target's prefill, the baseline's
    N − 1 decode steps against the phase-1 verify and the rounds. Pass the verify costs as the target
    pays them beside the draft, if it runs beside it; `t_vl_decode` stays the baseline's (no draft)."""
    result = honest_two_phase(**inputs)
    prefill = inputs["t_vl_prefill"]
    if t_vl_prefill_sd is None:
        t_vl_prefill_sd, t_sd = prefill, result["t_sd"]
    else:
        _check_nonnegative("t_vl_prefill_sd", t_vl_prefill_sd)
        t_sd = result["t_sd"] - prefill + t_vl_prefill_sd
    decode_base, decode_sd = result["t_base"] - prefill, result["t_sd"] - prefill
    return {**result, "t_sd": t_sd, "speedup": result["t_base"] / t_sd, "t_vl_prefill_sd": t_vl_prefill_sd,
            "decode_base": decode_base, "decode_sd": decode_sd,
            "decode_speedup": decode_base / decode_sd if decode_sd > 0 else math.inf}


def chain_ceiling(tau: float, t_decode: float, t_verify: float, gamma: int, t_head: float) -> float:
    """The decode-phase speedup a chain drafter reaching τ tokens per verifying forward could reach
    if nothing but its calls cost time: τ · t_decode / (t_verify(γ + 1) + γ · t_head), where
    `t_verify` is the forward over γ + 1 tokens and `t_head` one head step."""
    _check_gamma(gamma)
    return tau * t_decode / (t_verify + gamma * t_head)
