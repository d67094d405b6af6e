"""How one adapter scores on a hidden-state store (methods §3), streaming it batch by batch:

- hidden-state: cosine mean/std and accept@τ of the adapter's output against the target's state
  it estimates (h_vl[t] for L1–L4; h_vl[t+1] for the heads L5, B1, L5F);
- per-position adapters: same-position token top-1 through the target's LM head and the prefill
  free tokens (consecutive matches from t = 0 within 7 slots);
- heads: same-position top-1 (the next-state output read against tok_vl[t], as the seeds did; and
  the alignment output, where the head has one), shifted top-1/top-5 against tok_vl[t+1], and the
  accepted run per window of γ = 5 drafts, two ways:

    teacher-forced  the head reads the target's true h_vl at every position (the seeds' method);
    free-running    after its first draft the head reads its own predicted state, one step at a
                    time through its KV cache, as `xsd.decode.HeadDrafter` does live. L5F's event
                    stream stays the true h_egpt; L5 reads no target state, so both ways agree.

  Every head is scored at every position of the target's answer (`mask_vl`), so L5, B1 and L5F
  share their denominators. Past the end of the draft's answer, L5 and L5F read zero rows of the
  draft's stream, exactly what the live decoder's `EgptFeed` gives them there.

  A window starting at s (the target has just produced token s and its state h_vl[s]) drafts
  tokens s+1 … s+γ. Each way is reported as the first window (s = 0: the seeds' "α") and the mean
  over the windows a decoder meets along the answer (next start = s + accepted + 1).
"""
from __future__ import annotations

import torch

from xsd import metrics
from xsd.adapters import PER_POSITION, KVCache
from xsd.store import Batch, collate
from xsd.train_adapters import draft_stream, head_inputs

GAMMA = 5
PREFILL_SLOTS = 7
TOP_K = 5
EVAL_BATCH = 64


# -- pooling per-batch metrics into store-wide ones -----------------------------------------------

class Pooled:
    """Store-wide means of per-batch metrics, each weighted by how many values it averaged."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.weights: dict[str, float] = {}

    def add(self, values: dict, weight: float) -> None:
        """Pool one batch's means; a batch with nothing to average (weight 0, its means NaN) is
        skipped, so it cannot turn a store-wide mean into NaN (NaN · 0 is NaN)."""
        if not weight > 0:
            return
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value * weight
            self.weights[key] = self.weights.get(key, 0.0) + weight

    def means(self) -> dict:
        return {key: self.sums[key] / self.weights[key] for key in self.sums if self.weights[key] > 0}


def add_hidden_state(pooled: Pooled, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
    """Cosine statistics and accept@τ; the std is pooled through the second moment."""
    count = int(mask.sum())
    if count == 0:
        return
    stats = metrics.cos_stats(pred, target, mask)
    pooled.add({**metrics.accept_at(pred, target, mask), "cos_mean": stats["cos_mean"],
                "cos_square": stats["cos_std"] ** 2 + stats["cos_mean"] ** 2}, count)


def hidden_state_summary(means: dict) -> dict:
    out = {k: v for k, v in means.items() if k != "cos_square"}
    if "cos_square" in means:
        out["cos_std"] = max(means["cos_square"] - means["cos_mean"] ** 2, 0.0) ** 0.5
    return out


# -- heads: teacher-forced and free-running windows -----------------------------------------------

def head_step(head, egpt: torch.Tensor, vl: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """One position of a head through its cache: its next-state prediction [B, 1, H]."""
    return head(*head.inputs(egpt, vl), cache=cache)[0]


def shifted_validity(head, batch: Batch) -> torch.Tensor:
    """[B, T−1]: the head has its input at t and the target has a token t + 1 to draft."""
    _, present = head_inputs(head, batch)
    return present[:, :-1] & batch.mask_vl[:, 1:]


def teacher_forced_correct(next_states: torch.Tensor, batch: Batch, lm_head: torch.Tensor) -> torch.Tensor:
    """[B, T−1]: the draft for token t + 1, made from true states up to t, is right."""
    pred, reference, _ = metrics.shift(next_states, batch.tok_vl, batch.mask_vl)
    return metrics.lm_tokens(pred, lm_head) == reference


@torch.no_grad()
def free_running_streaks(head, batch: Batch, lm_head: torch.Tensor, gamma: int = GAMMA) -> torch.Tensor:
    """[B, T−1]: accepted run of the window starting at every position s, the head drafting
    tokens s+1 … s+γ while reading its own predictions after the first.

    The cache holds the true prefix; each window appends its own predictions and is cropped
    back before the next true state is committed, as a live drafter does after verification.
    """
    egpt, vl, tokens = draft_stream(batch), batch.h_vl, batch.tok_vl
    valid = shifted_validity(head, batch)
    steps = valid.shape[1]
    streaks = torch.zeros(vl.shape[0], steps, dtype=torch.long)
    cache = KVCache()
    for start in range(steps):
        cache.crop(start)
        state = head_step(head, egpt[:, start:start + 1], vl[:, start:start + 1], cache)
        running = torch.ones(vl.shape[0], dtype=torch.bool)
        for position in range(start, min(start + gamma, steps)):
            drafted = metrics.lm_tokens(state[:, 0], lm_head)
            running &= (drafted == tokens[:, position + 1]) & valid[:, position]
            streaks[:, start] += running.long()
            if position + 1 < min(start + gamma, steps):
                state = head_step(head, egpt[:, position + 1:position + 2], state, cache)
    return streaks


def window_values(streaks: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(first-window runs of samples with something to draft, runs of every SD-round window)."""
    if streaks.shape[1] == 0:  # a batch of one-token answers: no window at all
        return streaks.new_zeros(0).float(), streaks.new_zeros(0).float()
    first = streaks[:, 0][valid[:, 0]]
    rounds = streaks[metrics.sd_round_starts(streaks, valid)]
    return first.float(), rounds.float()


def add_windows(pooled: Pooled, prefix: str, streaks: torch.Tensor, valid: torch.Tensor) -> None:
    first, rounds = window_values(streaks, valid)
    if first.numel():
        pooled.add({f"{prefix}_first_window": first.mean().item()}, first.numel())
    if rounds.numel():
        pooled.add({f"{prefix}_rounds": rounds.mean().item()}, rounds.numel())


# -- one adapter on one store ---------------------------------------------------------------------

def store_batches(store, batch_size: int = EVAL_BATCH):
    for k in range(store.n_shards):
        records = store.shard(k)
        for i in range(0, len(records), batch_size):
            yield collate(records[i:i + batch_size])


@torch.no_grad()
def evaluate_per_position(adapter, batch: Batch, lm_head: torch.Tensor, pooled: Pooled,
                          slots: int = PREFILL_SLOTS) -> None:
    aligned, mask = adapter(batch.h_egpt), batch.mask_pair
    add_hidden_state(pooled, aligned, batch.h_vl, mask)
    tokens = metrics.lm_tokens(aligned, lm_head)
    pooled.add({"same_pos_top1": metrics.token_top1(tokens, batch.tok_vl, mask)}, int(mask.sum()))
    pooled.add({"prefill_free_tokens": metrics.prefill_free_tokens(tokens, batch.tok_vl, mask, slots)},
               batch.tok_vl.shape[0])


@torch.no_grad()
def evaluate_head(head, batch: Batch, lm_head: torch.Tensor, pooled: Pooled,
                  gamma: int = GAMMA) -> None:
    inputs, present = head_inputs(head, batch)
    next_states, aligned = head(*inputs)
    valid = shifted_validity(head, batch)
    add_hidden_state(pooled, next_states[:, :-1], batch.h_vl[:, 1:], valid)
    same = present & batch.mask_vl
    pooled.add({"same_pos_top1": metrics.token_top1(metrics.lm_tokens(next_states, lm_head), batch.tok_vl, same)},
               int(same.sum()))
    if aligned is not None:
        pooled.add({"aligned_top1": metrics.token_top1(metrics.lm_tokens(aligned, lm_head), batch.tok_vl, same)},
                   int(same.sum()))
    # shifted_topk reads mask[:, 1:] as the validity of the pair (t, t + 1)
    pair_mask = torch.cat([valid.new_zeros(valid.shape[0], 1), valid], dim=1)
    pooled.add(metrics.shifted_topk(next_states, lm_head, batch.tok_vl, pair_mask, k=TOP_K), int(valid.sum()))
    correct = teacher_forced_correct(next_states, batch, lm_head)
    add_windows(pooled, "teacher_forced", metrics.window_streaks(correct, valid, gamma), valid)
    add_windows(pooled, "free_running", free_running_streaks(head, batch, lm_head, gamma), valid)


def evaluate_adapter(adapter, name: str, store, lm_head: torch.Tensor, gamma: int = GAMMA,
                     slots: int = PREFILL_SLOTS, batch_size: int = EVAL_BATCH) -> dict:
    """Every metric of the module docstring for one adapter over a whole store."""
    adapter.eval()
    pooled = Pooled()
    for batch in store_batches(store, batch_size):
        if name in PER_POSITION:
            evaluate_per_position(adapter, batch, lm_head, pooled, slots)
        else:
            evaluate_head(adapter, batch, lm_head, pooled, gamma)
    measured = {key: float("nan") for key in expected_keys(adapter, name)}  # NaN: nothing to measure
    measured.update(hidden_state_summary(pooled.means()))
    return {"adapter": name, "samples": len(store), "gamma": gamma, "slots": slots, **measured}


def expected_keys(adapter, name: str) -> list[str]:
    keys = [f"accept@{t:.2f}" for t in metrics.THRESHOLDS] + ["cos_mean", "cos_std", "same_pos_top1"]
    if name in PER_POSITION:
        return keys + ["prefill_free_tokens"]
    keys += ["shifted_top1", f"shifted_top{TOP_K}"]
    keys += [f"{way}_{kind}" for way in ("teacher_forced", "free_running") for kind in ("first_window", "rounds")]
    return keys + (["aligned_top1"] if getattr(adapter, "align", None) is not None else [])


