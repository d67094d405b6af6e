"""Metrics shared by every study (methods §3). Notebooks call these; they never re-derive them.

Shapes: hidden states are [B, T, H], tokens and masks [B, T]; `mask` is True where a position
holds a real generated token. Everything is vectorised over batch and positions.

Alignment convention (the extraction store follows it): h[t] is the state whose LM-head argmax
is generated token t. A per-position adapter's output at t is compared with tok_vl[t]; a
next-state head's output at t predicts h_vl[t+1] and is compared with tok_vl[t+1] ("shifted").
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

THRESHOLDS = (0.80, 0.85, 0.90, 0.95)


# -- hidden-state metrics -------------------------------------------------------------------------

def cosine(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cosine similarity per position, [B, T]."""
    return F.cosine_similarity(pred.float(), target.float(), dim=-1)


def cos_stats(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> dict:
    values = cosine(pred, target)[mask]
    return {"cos_mean": values.mean().item(), "cos_std": values.std(unbiased=False).item()}


def accept_at(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
              thresholds=THRESHOLDS) -> dict:
    """Share of valid positions whose cosine similarity exceeds each threshold."""
    values = cosine(pred, target)[mask]
    return {f"accept@{t:.2f}": (values > t).float().mean().item() for t in thresholds}


def streak(accepted: torch.Tensor) -> torch.Tensor:
    """Length of the run of True from position 0 along the last axis (cumprod)."""
    return accepted.long().cumprod(dim=-1).sum(dim=-1)


def consecutive_accepts(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                        threshold: float = 0.90) -> dict:
    """Accepted run from position 0 when a position is accepted at cos > threshold."""
    runs = streak((cosine(pred, target) > threshold) & mask)
    return {"consecutive_mean": runs.float().mean().item(), "consecutive_max": int(runs.max().item())}


# -- token-level metrics --------------------------------------------------------------------------

def lm_tokens(hidden: torch.Tensor, lm_head: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Top-k token ids of `hidden` through an LM-head weight [V, H]; [B, T] for k = 1 else [B, T, k]."""
    logits = hidden.float() @ lm_head.float().T
    if k == 1:
        return logits.argmax(dim=-1)
    return logits.topk(k, dim=-1).indices


def token_top1(pred_tokens: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> float:
    """Share of valid positions whose predicted token equals the reference token."""
    return (pred_tokens == tokens)[mask].float().mean().item()


def prefill_free_tokens(pred_tokens: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
                        slots: int = 7) -> float:
    """Mean run of matching tokens from t = 0 within the first `slots` positions."""
    matches = (pred_tokens == tokens) & mask
    return streak(matches[:, :slots]).float().mean().item()


def shift(pred: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor):
    """Pair a next-state prediction at t with the reference at t + 1: (pred[:, :-1], tok[:, 1:], mask[:, 1:])."""
    return pred[:, :-1], tokens[:, 1:], mask[:, 1:]


def shifted_topk(pred_hidden: torch.Tensor, lm_head: torch.Tensor, tokens: torch.Tensor,
                 mask: torch.Tensor, k: int = 5) -> dict:
    """Top-1 and top-k accuracy of next-state predictions against tok[t+1]."""
    pred, reference, valid = shift(pred_hidden, tokens, mask)
    topk = lm_tokens(pred, lm_head, k=k)
    top1 = (topk[..., 0] == reference)[valid].float().mean().item()
    hit = (topk == reference[..., None]).any(dim=-1)[valid].float().mean().item()
    return {"shifted_top1": top1, f"shifted_top{k}": hit}


def window_streaks(correct: torch.Tensor, mask: torch.Tensor, gamma: int = 5,
                   starts: torch.Tensor | None = None) -> torch.Tensor:
    """Accepted run within windows of γ positions: [B, len(starts)].

    `correct[b, t]` says whether the draft for position t is right. A window starting at s counts
    the run of correct drafts s, s+1, … s+γ−1 (stopping at the first wrong or padded one). By
    default windows start at every position (0, 1, 2, …); pass `starts` to choose.
    """
    batch, length = correct.shape
    if starts is None:
        starts = torch.arange(length, device=correct.device)
    offsets = starts[:, None] + torch.arange(gamma, device=correct.device)[None, :]  # [S, γ]
    inside = offsets < length
    index = offsets.clamp(max=length - 1)
    ok = (correct & mask)[:, index] & inside  # [B, S, γ]
    return streak(ok)


def first_window_and_mean(streaks: torch.Tensor, mask: torch.Tensor,
                          starts: torch.Tensor | None = None) -> dict:
    """The seeds' number (the streak of the window at position 0) and the mean over windows that
    start on a valid position (what a decoder meets along the answer)."""
    length = mask.shape[1]
    starts = torch.arange(length, device=mask.device) if starts is None else starts
    valid = mask[:, starts.clamp(max=length - 1)] & (starts < length)
    return {"first_window": streaks[:, 0].float().mean().item(),
            "all_windows": streaks[valid].float().mean().item()}


# -- speculative-decoding accounting --------------------------------------------------------------

def tau(tokens_emitted: torch.Tensor, target_forwards: torch.Tensor) -> float:
    """Mean tokens emitted per target forward pass, the bonus/correction token *included*."""
    return (tokens_emitted.sum() / target_forwards.sum()).item()


def per_position_acceptance(accepted_per_round: torch.Tensor, gamma: int) -> torch.Tensor:
    """P(draft i accepted | drafts 1..i−1 accepted), i = 1..γ, from the accepted count of each round.

    A round with a accepted drafts reached positions 1..a+1 (when a < γ) and accepted 1..a.
    Positions no round reached are NaN.
    """
    counts = accepted_per_round.long()[:, None]
    positions = torch.arange(1, gamma + 1, device=counts.device)[None, :]
    reached = (counts >= positions - 1).sum(dim=0).float()
    accepted = (counts >= positions).sum(dim=0).float()
    return torch.where(reached > 0, accepted / reached.clamp(min=1), torch.full_like(reached, float("nan")))


def sd_round_starts(streaks: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Which windows a speculative decoder meets along each answer: [B, S] bool.

    `streaks[b, s]` is the accepted run of the window starting at s (from `window_streaks` with a
    window at every position) and `valid[b, s]` says whether position s still has something to
    draft. The first round starts at 0; a round that accepts a drafts also emits the target's own
    token, so the next one starts at s + a + 1. The loop runs over rounds (each advances at least
    one position) and is vectorised over the batch.
    """
    batch, length = streaks.shape
    rows = torch.arange(batch, device=streaks.device)
    start = torch.zeros(batch, dtype=torch.long, device=streaks.device)
    chosen = torch.zeros(batch, length, dtype=torch.bool, device=streaks.device)
    for _ in range(length):
        index = start.clamp(max=length - 1)
        live = (start < length) & valid[rows, index]
        if not live.any():
            break
        chosen[rows[live], index[live]] = True
        start = torch.where(live, start + streaks[rows, index].long() + 1, start.new_full((), length))
    return chosen


# -- proportions ----------------------------------------------------------------------------------

def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion hits / n (95% at z = 1.96): how far another draw
    of n questions could move it. It stays inside [0, 1] and is honest at 0 or n hits, where the
    normal approximation collapses to a point."""
    if n <= 0 or not 0 <= hits <= n:
        raise ValueError(f"a proportion needs 0 <= hits <= n and n > 0, not {hits} of {n}")
    p, z2 = hits / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)
