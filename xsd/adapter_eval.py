"""The adapters on the test store: the hidden-state and token-level tables (methods §3).

For each trained adapter, streaming the test store batch by batch:

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

Results are cached as JSON keyed by the adapter checkpoint, the test store and these settings.
The pipeline steps a study needs (world, models, stores, adapters) run on demand through
`xsd.pipeline`, each resumable.
"""
from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from xsd import metrics, paths
from xsd.adapters import ADAPTERS, NEXT_STATE, PER_POSITION, KVCache
from xsd.config import Profile, fingerprint, load_profile
from xsd.store import Batch, atomic_write_text, collate
from xsd.train_adapters import adapter_dir, draft_stream, head_inputs, predict, trained_adapter

GAMMA = 5
PREFILL_SLOTS = 7
TOP_K = 5
EVAL_BATCH = 64
EVAL_VERSION = 3  # bump when what `evaluate_adapter` computes changes (2: empty batches skipped;
#                  3: every head scored on the target's positions, zero draft rows past the draft's end)


def as_profile(profile: str | Profile) -> Profile:
    return load_profile(profile) if isinstance(profile, str) else profile


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

def head_step(head, name: str, egpt: torch.Tensor, vl: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """One position of a head through its cache: its next-state prediction [B, 1, H]."""
    inputs = {"L5": (egpt,), "B1": (vl,), "L5F": (egpt, vl)}[name]
    return head(*inputs, cache=cache)[0]


def shifted_validity(name: str, batch: Batch) -> torch.Tensor:
    """[B, T−1]: the head has its input at t and the target has a token t + 1 to draft."""
    _, present = head_inputs(name, batch)
    return present[:, :-1] & batch.mask_vl[:, 1:]


def teacher_forced_correct(next_states: torch.Tensor, batch: Batch, lm_head: torch.Tensor) -> torch.Tensor:
    """[B, T−1]: the draft for token t + 1, made from true states up to t, is right."""
    pred, reference, _ = metrics.shift(next_states, batch.tok_vl, batch.mask_vl)
    return metrics.lm_tokens(pred, lm_head) == reference


@torch.no_grad()
def free_running_streaks(head, name: str, batch: Batch, lm_head: torch.Tensor, gamma: int = GAMMA) -> torch.Tensor:
    """[B, T−1]: accepted run of the window starting at every position s, the head drafting
    tokens s+1 … s+γ while reading its own predictions after the first.

    The cache holds the true prefix; each window appends its own predictions and is cropped
    back before the next true state is committed, as a live drafter does after verification.
    """
    egpt, vl, tokens = draft_stream(batch), batch.h_vl, batch.tok_vl
    valid = shifted_validity(name, batch)
    steps = valid.shape[1]
    streaks = torch.zeros(vl.shape[0], steps, dtype=torch.long)
    cache = KVCache()
    for start in range(steps):
        cache.crop(start)
        state = head_step(head, name, egpt[:, start:start + 1], vl[:, start:start + 1], cache)
        running = torch.ones(vl.shape[0], dtype=torch.bool)
        for position in range(start, min(start + gamma, steps)):
            drafted = metrics.lm_tokens(state[:, 0], lm_head)
            running &= (drafted == tokens[:, position + 1]) & valid[:, position]
            streaks[:, start] += running.long()
            if position + 1 < min(start + gamma, steps):
                state = head_step(head, name, egpt[:, position + 1:position + 2], state, cache)
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
def evaluate_head(head, name: str, batch: Batch, lm_head: torch.Tensor, pooled: Pooled,
                  gamma: int = GAMMA) -> None:
    inputs, present = head_inputs(name, batch)
    next_states, aligned = head(*inputs)
    valid = shifted_validity(name, batch)
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
    add_windows(pooled, "free_running", free_running_streaks(head, name, batch, lm_head, gamma), valid)


def evaluate_adapter(adapter, name: str, store, lm_head: torch.Tensor, gamma: int = GAMMA,
                     slots: int = PREFILL_SLOTS, batch_size: int = EVAL_BATCH) -> dict:
    """Every metric of the module docstring for one adapter over a whole store."""
    adapter.eval()
    pooled = Pooled()
    for batch in store_batches(store, batch_size):
        if name in PER_POSITION:
            evaluate_per_position(adapter, batch, lm_head, pooled, slots)
        else:
            evaluate_head(adapter, name, batch, lm_head, pooled, gamma)
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


# -- a profile's adapters, cached -----------------------------------------------------------------

def checkpoint_key(profile: Profile, name: str, gamma: int, slots: int) -> str:
    """Identifies the adapter's weights, the test store and the evaluation settings."""
    from xsd.extract import store_dir

    folder = adapter_dir(profile, name)
    weights = hashlib.sha256((folder / "best.safetensors").read_bytes()).hexdigest()[:16]
    index = (store_dir(profile, "test") / "index.json").read_text()
    return fingerprint({"weights": weights, "config": (folder / "config.json").read_text(), "store": index,
                        "gamma": gamma, "slots": slots, "version": EVAL_VERSION})


def results_dir(profile: Profile) -> Path:
    return paths.cache_dir() / "adapter_eval" / profile.name


def evaluate_profile_adapter(profile: str | Profile, name: str, gamma: int = GAMMA, slots: int = PREFILL_SLOTS,
                             refresh: bool = False) -> dict:
    """One trained adapter of the profile on its test store, with its training result; cached."""
    from xsd.extract import load_lm_head, open_store

    profile = as_profile(profile)
    adapter, config, result = trained_adapter(profile, name)
    path = results_dir(profile) / f"{name}-{checkpoint_key(profile, name, gamma, slots)}.json"
    if path.is_file() and not refresh:
        return json.loads(path.read_text())
    torch.set_num_threads(profile.adapters.threads)
    measured = evaluate_adapter(adapter, name, open_store(profile, "test"), load_lm_head(profile), gamma, slots)
    row = {**measured, "params": result["params"], "epochs": result["epochs"], "best_epoch": result["best_epoch"],
           "best_val_loss": result["best_val_loss"], "train_samples_per_s": result["samples_per_s"],
           "stopped_early": result["stopped_early"], "sizes": config["sizes"]}
    paths.ensure(path.parent)
    atomic_write_text(path, json.dumps(row, indent=1))
    return row


def evaluate_profile(profile: str | Profile, names=ADAPTERS, progress: bool = False) -> list[dict]:
    """Run what is missing (world, models, stores, training), then evaluate every adapter in `names`."""
    from xsd.pipeline import ensure_adapters

    profile = as_profile(profile)
    ensure_adapters(profile, names, progress=progress)
    return [evaluate_profile_adapter(profile, name) for name in names]


def training_curves(profile: str | Profile, name: str) -> list[dict]:
    """Per-epoch train and validation loss of a trained adapter."""
    return json.loads((adapter_dir(as_profile(profile), name) / "curves.json").read_text())


# -- tables beside the seeds' ---------------------------------------------------------------------

HIDDEN_STATE_COLUMNS = ("params", "epochs", "best_val_loss", "accept@0.80", "accept@0.85", "accept@0.90",
                        "accept@0.95", "cos_mean", "cos_std")


def hidden_state_table(results: list[dict]):
    """The hidden-state table, each measured column beside the seeds' figure."""
    import pandas as pd

    from xsd import seeds

    reported = {row["level"]: row for row in seeds.HIDDEN_STATE_TABLE}
    rows = []
    for r in results:
        seed = reported.get(r["adapter"], {})
        rows.append({
            "adapter": r["adapter"], "params": r["params"], "seeds: params (M)": seed.get("params_m"),
            "epochs": r["epochs"], "seeds: epochs": seed.get("epochs"),
            "best val loss": r["best_val_loss"], "seeds: best val loss": seed.get("best_val_loss"),
            **{k: v for t in metrics.THRESHOLDS for k, v in (
                (f"accept@{t:.2f}", r[f"accept@{t:.2f}"]), (f"seeds: accept@{t:.2f}", seed.get(f"accept@{t:.2f}")))},
            "cos mean": r["cos_mean"], "cos std": r["cos_std"], "seeds: cos": seed.get("cos"),
        })
    return pd.DataFrame(rows).set_index("adapter")


def per_position_token_table(results: list[dict]):
    import pandas as pd

    from xsd import seeds

    reported = {row["level"]: row for row in seeds.PER_POSITION_TOKEN_TABLE}
    return pd.DataFrame([{
        "adapter": r["adapter"], "same-position top-1": r["same_pos_top1"],
        "seeds: top-1": reported[r["adapter"]]["top1"],
        f"prefill free tokens ({r['slots']} slots)": r["prefill_free_tokens"],
        "seeds: free tokens": reported[r["adapter"]]["free_tokens"],
    } for r in results if r["adapter"] in PER_POSITION]).set_index("adapter")


def head_token_table(results: list[dict]):
    import pandas as pd

    from xsd import seeds

    reported = {row["level"]: row for row in seeds.EAGLE_TOKEN_TABLE}
    return pd.DataFrame([{
        "adapter": r["adapter"],
        "same-pos top-1": r["same_pos_top1"], "seeds: same-pos top-1": reported[r["adapter"]]["same_pos_top1"],
        "aligned top-1": r.get("aligned_top1"),
        "shifted top-1": r["shifted_top1"], "seeds: shifted top-1": reported[r["adapter"]]["shifted_top1"],
        f"shifted top-{TOP_K}": r[f"shifted_top{TOP_K}"], "seeds: shifted top-5": reported[r["adapter"]]["shifted_top5"],
        "TF first window": r.get("teacher_forced_first_window"),
        "seeds: α (TF first window)": reported[r["adapter"]]["consecutive_accepts"],
        "FR first window": r.get("free_running_first_window"),
        "TF per round": r.get("teacher_forced_rounds"), "FR per round": r.get("free_running_rounds"),
    } for r in results if r["adapter"] in NEXT_STATE]).set_index("adapter")


# -- benchmarks -----------------------------------------------------------------------------------

def extraction_benchmark(profile: str | Profile) -> list[dict]:
    """samples/s and bytes/sample of each split's extraction, from its report."""
    from xsd.extract import REPORT, store_dir

    profile = as_profile(profile)
    rows = []
    for split in ("train", "test"):
        report = json.loads((store_dir(profile, split) / REPORT).read_text())
        rows.append({"split": split, "samples": report["samples"], "failed": report["failed"],
                     "samples_per_s": report["samples_per_s_this_run"],
                     "bytes_per_sample": report["bytes_per_sample"], "threads": report["threads"],
                     "batch_size": report["batch_size"]})
    return rows


def synthetic_store(root: Path, shards: int, shard_size: int, hidden: int, length: int, seed: int = 0):
    """A store of random records with the given shape (for memory benchmarks and tests)."""
    from xsd.store import HiddenStateStore, Record, StoreWriter

    generator = torch.Generator().manual_seed(seed)
    writer = StoreWriter(root, {"hidden_size": hidden, "synthetic": True}, shard_size=shard_size)
    for i in range(shards * shard_size):
        states = torch.randn(2, length, hidden, generator=generator).half()
        tokens = torch.randint(0, 64, (2, length), generator=generator)
        writer.add(Record(f"s{i:06d}", states[0], states[1], tokens[0], tokens[1]))
    writer.flush()
    return HiddenStateStore(root)


def training_peak_rss(name: str, shards: int, shard_size: int, hidden: int, length: int,
                      settings, seed: int = 0) -> dict:
    """Peak RSS (MB) of one training epoch of `name` on a synthetic store of `shards` shards,
    measured in a fresh subprocess so that nothing else this process holds is counted."""
    from dataclasses import asdict

    with tempfile.TemporaryDirectory() as folder:
        synthetic_store(Path(folder) / "store", shards, shard_size, hidden, length, seed)
        job = {"store": str(Path(folder) / "store"), "name": name, "folder": str(Path(folder) / "run"),
               "settings": {**asdict(settings), "max_epochs": 1}, "seed": seed}
        code = "import sys, json; from xsd.adapter_eval import _rss_job; print(json.dumps(_rss_job(json.loads(sys.argv[1]))))"
        out = subprocess.run([sys.executable, "-c", code, json.dumps(job)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    data_mb = shards * shard_size * 2 * length * hidden * 2 / 2**20
    return {"adapter": name, "shards": shards, "samples": shards * shard_size, "store_mb": round(data_mb, 1), **result}


def _rss_job(job: dict) -> dict:
    """Child side of `training_peak_rss`: train one epoch, report peak RSS and throughput."""
    from xsd.config import AdaptersConfig
    from xsd.store import HiddenStateStore, hold_out
    from xsd.train_adapters import train_adapter

    train, val = hold_out(HiddenStateStore(Path(job["store"])))
    result = train_adapter(job["name"], train, val, AdaptersConfig(**job["settings"]), Path(job["folder"]),
                           seed=job["seed"], progress=False)
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "train_samples_per_s": result.samples_per_s}


def memory_benchmark(profile: str | Profile, name: str = "L5F", shards: int = 2, factor: int = 4,
                     refresh: bool = False) -> list[dict]:
    """Training peak RSS at `shards` and `factor`× as many shards of the profile's store shape
    (shard size, hidden size, answer length); cached by those settings."""
    from xsd.extract import open_store

    profile = as_profile(profile)
    store = open_store(profile, "train")
    shape = {"shard_size": int(store.index["shard_size"]), "hidden": int(store.meta["hidden_size"]),
             "length": int(store.meta["max_new_tokens"])}
    key = fingerprint({"shape": shape, "name": name, "shards": shards, "factor": factor,
                       "settings": profile.adapters, "seed": profile.seed})
    path = results_dir(profile) / f"memory-{key}.json"
    if path.is_file() and not refresh:
        return json.loads(path.read_text())
    rows = [training_peak_rss(name, n, settings=profile.adapters, seed=profile.seed, **shape)
            for n in (shards, shards * factor)]
    paths.ensure(path.parent)
    atomic_write_text(path, json.dumps(rows, indent=1))
    return rows


__all__ = [
    "GAMMA", "PREFILL_SLOTS", "evaluate_adapter", "evaluate_profile_adapter",
    "evaluate_profile", "free_running_streaks", "training_curves", "hidden_state_table", "per_position_token_table",
    "head_token_table", "extraction_benchmark", "memory_benchmark", "training_peak_rss", "synthetic_store",
]
