import json

import pytest
import torch
from torch import nn

from xsd import metrics
from xsd.adapters import KVCache, NextStateHead, create_adapter
from xsd.studies import adapter_scores, feature_adapters, training_memory
from xsd.train_adapters import head_inputs
from xsd.config import AdaptersConfig
from xsd.locations import Locations
from xsd.store import HiddenStateStore, Record, StoreWriter, collate

VOCAB = 16
GARBAGE = VOCAB  # an extra hidden dimension the LM head does not read
HIDDEN = VOCAB + 1


def one_hot(tokens: torch.Tensor) -> torch.Tensor:
    return nn.functional.one_hot(tokens, HIDDEN).float()


def lm_head() -> torch.Tensor:
    """Token i is read off dimension i; the garbage dimension is invisible to it."""
    return torch.eye(VOCAB, HIDDEN)


def counting_batch(lengths=(10, 7)) -> tuple:
    """Answers 0, 1, 2, … with states e_t: the right next state of e_k is e_{k+1}."""
    records = []
    for i, n in enumerate(lengths):
        tokens = torch.arange(n) % VOCAB
        records.append(Record(f"s{i}", one_hot(tokens), one_hot(tokens), tokens, tokens))
    return collate(records), records


def rotate(x: torch.Tensor) -> torch.Tensor:
    """e_k → e_{k+1} on the token dimensions."""
    return torch.roll(x[..., :VOCAB], 1, dims=-1)


class FragileHead(nn.Module):
    """Right from every true state, but it marks its predictions in the garbage dimension and reads
    that mark as a strong vote for token VOCAB − 1: fine teacher-forced, wrong once it reads itself."""

    name, streams, causal = "B1", ("vl",), True
    inputs = NextStateHead.inputs

    def forward(self, h_vl, cache: KVCache | None = None):
        out = torch.cat([rotate(h_vl), torch.full_like(h_vl[..., :1], 5.0)], dim=-1)
        out[..., VOCAB - 1] += 10 * h_vl[..., GARBAGE]
        return out, None


class PositionHead(nn.Module):
    """Ignores its inputs: predicts token p + 1 at position p except every third position, so
    teacher-forced and free-running drafting must agree."""

    name, streams, causal = "B1", ("vl",), True
    inputs = NextStateHead.inputs

    def forward(self, h_vl, cache: KVCache | None = None):
        batch, length, _ = h_vl.shape
        start = cache.length if cache is not None else 0
        if cache is not None:
            cache.append(torch.zeros(batch, 1, length, 1), torch.zeros(batch, 1, length, 1))
        positions = torch.arange(start, start + length)
        nxt = torch.where(positions % 3 == 2, torch.zeros_like(positions), (positions + 1) % VOCAB)
        return one_hot(nxt)[None].expand(batch, -1, -1).clone(), None


def teacher_forced_streaks(head, batch, head_lm, gamma=5):
    inputs, _ = head_inputs(head, batch)
    correct = adapter_scores.teacher_forced_correct(head(*inputs)[0], batch, head_lm)
    return metrics.window_streaks(correct, adapter_scores.shifted_validity(head, batch), gamma)


# -- the SD-round chain ---------------------------------------------------------------------------

def test_sd_round_starts_follow_accepted_runs():
    streaks = torch.tensor([[2, 0, 1, 0, 3, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    valid = torch.ones(2, 7, dtype=torch.bool)
    # row 0: start 0 accepts 2 -> next 3; 3 accepts 0 -> 4; 4 accepts 3 -> 8, past the end
    expected = [[True, False, False, True, True, False, False], [True] * 7]
    assert metrics.sd_round_starts(streaks, valid).tolist() == expected
    valid[0, 4:] = False  # the answer ends after position 3
    assert metrics.sd_round_starts(streaks, valid)[0].tolist() == [True, False, False, True, False, False, False]


def test_window_values_report_the_first_window_and_every_round():
    streaks = torch.tensor([[2, 0, 1, 0, 3, 0, 0]])
    first, rounds = adapter_scores.window_values(streaks, torch.ones(1, 7, dtype=torch.bool))
    assert first.tolist() == [2.0]
    assert sorted(rounds.tolist()) == [0.0, 2.0, 3.0]


# -- teacher-forced against free-running ----------------------------------------------------------

def test_free_running_differs_when_the_head_cannot_read_its_own_predictions():
    batch, _ = counting_batch()
    head = FragileHead()
    forced = teacher_forced_streaks(head, batch, lm_head())
    free = adapter_scores.free_running_streaks(head, batch, lm_head())
    # teacher-forced: every draft right, so a window runs to γ or to the answer's end
    assert forced[0].tolist() == [5, 5, 5, 5, 5, 4, 3, 2, 1]
    assert forced[1, :6].tolist() == [5, 5, 4, 3, 2, 1]
    # free-running: the first draft is right, the second reads the head's own marked state
    assert free[0].tolist() == [1] * 9
    assert free[1].tolist() == [1] * 6 + [0] * 3


def test_free_running_agrees_when_the_head_ignores_its_inputs():
    batch, _ = counting_batch()
    head = PositionHead()
    forced = teacher_forced_streaks(head, batch, lm_head())
    free = adapter_scores.free_running_streaks(head, batch, lm_head())
    assert torch.equal(forced, free)
    assert forced[0, :4].tolist() == [2, 1, 0, 2]  # misses at positions 2, 5, 8


def _records_from_head_predictions(head, name, seed=0, lengths=(9, 6, 12), hidden=32):
    """Random states whose target tokens are what the head drafts from true states (+ an LM head),
    so every teacher-forced draft is right by construction."""
    generator = torch.Generator().manual_seed(seed)
    lm = torch.randn(24, hidden, generator=generator)
    records = []
    for i, n in enumerate(lengths):
        egpt, vl = torch.randn(2, n, hidden, generator=generator)
        inputs = {"L5": (egpt[None],), "B1": (vl[None],), "L5F": (egpt[None], vl[None])}[name]
        with torch.no_grad():
            nxt = head(*inputs)[0][0]
        tokens = torch.cat([torch.tensor([0]), metrics.lm_tokens(nxt[:-1], lm)])
        records.append(Record(f"s{i}", egpt, vl, tokens.clone(), tokens))
    return collate(records), lm


def test_l5_reads_no_target_state_so_both_ways_agree():
    torch.manual_seed(0)
    head = create_adapter("L5", 32, heads=2).eval()
    batch, lm = _records_from_head_predictions(head, "L5")
    forced = teacher_forced_streaks(head, batch, lm)
    free = adapter_scores.free_running_streaks(head, batch, lm)
    assert torch.equal(forced, free)
    assert forced[2, :3].tolist() == [5, 5, 5]


@pytest.mark.parametrize("name", ["B1", "L5F"])
def test_free_running_with_the_cache_equals_recomputing_every_prefix(name):
    torch.manual_seed(1)
    head = create_adapter(name, 32, heads=2).eval()
    batch, lm = _records_from_head_predictions(head, name)
    free = adapter_scores.free_running_streaks(head, batch, lm, gamma=4)
    assert torch.equal(free, _free_running_without_cache(head, name, batch, lm, gamma=4))
    forced = teacher_forced_streaks(head, batch, lm, gamma=4)
    valid = adapter_scores.shifted_validity(head, batch)
    assert (forced[valid] >= 1).all()  # tokens came from teacher-forced drafts
    assert (free <= forced).all() and not torch.equal(free, forced)


@torch.no_grad()
def _free_running_without_cache(head, name, batch, lm, gamma):
    valid = adapter_scores.shifted_validity(head, batch)
    streaks = torch.zeros_like(valid, dtype=torch.long)
    for b in range(valid.shape[0]):
        for start in range(valid.shape[1]):
            egpt, vl = batch.h_egpt[b:b + 1], batch.h_vl[b:b + 1, :start + 1]
            for position in range(start, min(start + gamma, valid.shape[1])):
                inputs = {"B1": (vl,), "L5F": (egpt[:, :vl.shape[1]], vl)}[name]
                state = head(*inputs)[0][:, -1]
                if not (valid[b, position] and metrics.lm_tokens(state, lm).item() == batch.tok_vl[b, position + 1]):
                    break
                streaks[b, start] += 1
                vl = torch.cat([vl, state[:, None]], dim=1)
    return streaks


def test_l5f_and_b1_are_scored_on_the_same_positions_when_the_drafts_answer_ends_first():
    generator = torch.Generator().manual_seed(4)
    records = [Record(f"s{i}", torch.randn(t_e, 32, generator=generator), torch.randn(t_v, 32, generator=generator),
                      torch.randint(0, 24, (t_e,), generator=generator), torch.randint(0, 24, (t_v,), generator=generator))
               for i, (t_e, t_v) in enumerate([(3, 8), (5, 6)])]
    batch, lm = collate(records), torch.randn(24, 32, generator=generator)
    torch.manual_seed(4)
    weights = {}
    for name in ("L5", "B1", "L5F"):
        pooled = adapter_scores.Pooled()
        adapter_scores.evaluate_head(create_adapter(name, 32, heads=2).eval(), batch, lm, pooled)
        weights[name] = pooled.weights
    assert weights["L5F"] == weights["B1"] == weights["L5"]
    assert weights["B1"]["shifted_top1"] == 7 + 5  # every pair (t, t + 1) of the target's answers
    assert weights["B1"]["same_pos_top1"] == 8 + 6
    # free-running, L5F reads zero rows past the draft's answer, whatever the batch holds there
    head = create_adapter("L5F", 32, heads=2).eval()
    zeros = adapter_scores.free_running_streaks(head, batch, lm)
    batch.h_egpt[~batch.mask_egpt] = 7.0
    assert torch.equal(adapter_scores.free_running_streaks(head, batch, lm), zeros)


# -- whole-store evaluation -----------------------------------------------------------------------

def write_store(root, records, shard_size=2) -> HiddenStateStore:
    writer = StoreWriter(root, {"hidden_size": records[0].h_vl.shape[1]}, shard_size=shard_size)
    for record in records:
        writer.add(record)
    writer.flush()
    return HiddenStateStore(root)


def identity_l1(hidden: int):
    adapter = create_adapter("L1", hidden)
    with torch.no_grad():
        adapter.body.up.weight.zero_()
        adapter.body.up.bias.zero_()
    return adapter


def test_a_perfect_per_position_adapter_scores_perfectly(tmp_path):
    _, records = counting_batch(lengths=(10, 4, 9))
    store = write_store(tmp_path / "store", records)
    result = adapter_scores.evaluate_adapter(identity_l1(HIDDEN), "L1", store, lm_head(), batch_size=2)
    assert result["cos_mean"] == pytest.approx(1.0) and result["cos_std"] == pytest.approx(0.0, abs=1e-3)
    assert result["accept@0.95"] == 1.0 and result["same_pos_top1"] == 1.0
    assert result["prefill_free_tokens"] == pytest.approx((7 + 4 + 7) / 3)


def test_store_wide_results_do_not_depend_on_the_batch_size(tmp_path):
    torch.manual_seed(2)
    head = create_adapter("L5F", 32, heads=2).eval()
    batch, lm = _records_from_head_predictions(head, "L5F", lengths=(9, 6, 12, 3, 8))
    records = [Record(f"s{i}", batch.h_egpt[i, :n], batch.h_vl[i, :n], batch.tok_egpt[i, :n], batch.tok_vl[i, :n])
               for i, n in enumerate(batch.mask_vl.sum(1).tolist())]
    store = write_store(tmp_path / "store", records)
    whole = adapter_scores.evaluate_adapter(head, "L5F", store, lm, batch_size=64)
    pieces = adapter_scores.evaluate_adapter(head, "L5F", store, lm, batch_size=1)
    assert pieces == pytest.approx(whole, abs=1e-6)
    assert whole["teacher_forced_first_window"] == pytest.approx((4 * 5 + 2) / 5)  # the 3-token answer has 2 drafts
    assert whole["free_running_rounds"] <= whole["teacher_forced_rounds"]
    assert whole["shifted_top1"] == 1.0


def test_an_empty_batch_leaves_the_pooled_means_alone():
    pooled = adapter_scores.Pooled()
    pooled.add({"top1": 0.5}, 4)
    pooled.add({"top1": float("nan")}, 0)  # a batch with nothing to average: its mean is NaN
    pooled.add({"top1": 1.0}, 4)
    assert pooled.means() == {"top1": 0.75}


def test_a_batch_with_nothing_to_draft_does_not_turn_the_store_into_nan(tmp_path):
    torch.manual_seed(3)
    head = create_adapter("B1", 32, heads=2).eval()
    batch, lm = _records_from_head_predictions(head, "B1", lengths=(9, 1, 6))
    records = [Record(f"s{i}", batch.h_egpt[i, :n], batch.h_vl[i, :n], batch.tok_egpt[i, :n], batch.tok_vl[i, :n])
               for i, n in enumerate(batch.mask_vl.sum(1).tolist())]
    store = write_store(tmp_path / "store", records)
    # one sample a batch: the one-token answer's batch has no pair (t, t + 1) to score
    pieces = adapter_scores.evaluate_adapter(head, "B1", store, lm, batch_size=1)
    assert pieces["shifted_top1"] == 1.0 and pieces[f"shifted_top{adapter_scores.TOP_K}"] == 1.0
    assert not any(value != value for value in pieces.values() if isinstance(value, float))
    assert pieces == pytest.approx(adapter_scores.evaluate_adapter(head, "B1", store, lm, batch_size=64), abs=1e-6)


# -- benchmarks and the profile pipeline ----------------------------------------------------------

@pytest.mark.slow
def test_training_memory_does_not_grow_with_the_number_of_shards():
    settings = AdaptersConfig(batch_size=8, threads=1)
    small = training_memory.training_peak_rss("L1", shards=2, shard_size=64, hidden=128, length=32, settings=settings)
    large = training_memory.training_peak_rss("L1", shards=8, shard_size=64, hidden=128, length=32, settings=settings)
    assert large["store_mb"] == pytest.approx(4 * small["store_mb"])
    # reading the whole store into memory would add 3 × 2 × store_mb of float32 at least
    assert large["peak_rss_mb"] - small["peak_rss_mb"] < 2 * small["store_mb"]


@pytest.mark.slow
def test_a_profile_is_evaluated_from_scratch_and_then_read_from_the_cache(smoke_data):
    rows = feature_adapters.evaluate_profile(smoke_data, names=("L1", "L5F"))
    assert [r["adapter"] for r in rows] == ["L1", "L5F"]
    assert {"prefill_free_tokens", "same_pos_top1", "cos_std"} <= set(rows[0])
    assert {"free_running_first_window", "teacher_forced_rounds", "shifted_top5"} <= set(rows[1])
    cached = sorted(Locations(smoke_data).results("adapter_eval").glob("L5F-*.json"))

    def same(a, b):  # smoke answers can be too short for some metrics: NaN, which != itself
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)

    assert len(cached) == 1 and same(json.loads(cached[0].read_text()), rows[1])
    assert same(feature_adapters.evaluate_profile_adapter(smoke_data, "L5F"), rows[1])
    assert len(feature_adapters.training_curves(smoke_data, "L1")) == rows[0]["epochs"]
    assert feature_adapters.head_token_table(rows).index.tolist() == ["L5F"]
