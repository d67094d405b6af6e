"""The feature-adapters study: every trained adapter of a profile scored on its test store
(`xsd.studies.adapter_scores`), cached, and the tables and lines that set each measured column
beside the seeds' figure (methods §3); the study's reading is `xsd.studies.feature_reading`.

Results are cached as JSON keyed by the adapter checkpoint, the test store and the evaluation
settings. The pipeline steps the study needs (world, models, stores, adapters) run on demand
through `xsd.pipeline`, each resumable.
"""
from __future__ import annotations

import hashlib
import json

import torch

from xsd import metrics, seeds
from xsd.adapters import ADAPTERS, NEXT_STATE, PER_POSITION
from xsd.cache import cached_json
from xsd.config import Profile, fingerprint
from xsd.locations import Locations
from xsd.studies.adapter_scores import GAMMA, PREFILL_SLOTS, TOP_K, evaluate_adapter
from xsd.train_adapters import trained_adapter

EVAL_VERSION = 3  # bump when what `evaluate_adapter` computes changes (2: empty batches skipped;
#                  3: every head scored on the target's positions, zero draft rows past the draft's end)


# -- a profile's adapters, cached -----------------------------------------------------------------

def checkpoint_key(profile: Profile, name: str, gamma: int, slots: int) -> str:
    """Identifies the adapter's weights, the test store and the evaluation settings."""
    where = Locations(profile)
    folder = where.adapter(name)
    weights = hashlib.sha256((folder / "best.safetensors").read_bytes()).hexdigest()[:16]
    index = (where.store("test") / "index.json").read_text()
    return fingerprint({"weights": weights, "config": (folder / "config.json").read_text(), "store": index,
                        "gamma": gamma, "slots": slots, "version": EVAL_VERSION})


def evaluate_profile_adapter(profile: Profile, name: str, gamma: int = GAMMA, slots: int = PREFILL_SLOTS,
                             refresh: bool = False) -> dict:
    """One trained adapter of the profile on its test store, with its training result; cached."""
    from xsd.extract import load_lm_head, open_store

    adapter, config, result = trained_adapter(profile, name)

    def compute() -> dict:
        torch.set_num_threads(profile.adapters.threads)
        measured = evaluate_adapter(adapter, name, open_store(profile, "test"), load_lm_head(profile), gamma, slots)
        return {**measured, "params": result["params"], "epochs": result["epochs"], "best_epoch": result["best_epoch"],
                "best_val_loss": result["best_val_loss"], "train_samples_per_s": result["samples_per_s"],
                "stopped_early": result["stopped_early"], "sizes": config["sizes"]}

    path = Locations(profile).results("adapter_eval") / f"{name}-{checkpoint_key(profile, name, gamma, slots)}.json"
    return cached_json(path, compute, refresh)


def evaluate_profile(profile: Profile, names=ADAPTERS, progress: bool = False) -> list[dict]:
    """Run what is missing (world, models, stores, training), then evaluate every adapter in `names`."""
    from xsd.pipeline import ensure_adapters

    ensure_adapters(profile, names, progress=progress)
    return [evaluate_profile_adapter(profile, name) for name in names]


def best_prefill_adapter(profile: Profile) -> str:
    """The per-position adapter with the most prefill free tokens on the test store: phase 1's
    adapter in the two-phase method."""
    scores = {row["adapter"]: row["prefill_free_tokens"] for row in evaluate_profile(profile, PER_POSITION)}
    return max(scores, key=scores.get)


def training_curves(profile: Profile, name: str) -> list[dict]:
    """Per-epoch train and validation loss of a trained adapter."""
    return json.loads((Locations(profile).adapter(name) / "curves.json").read_text())


# -- tables beside the seeds' ---------------------------------------------------------------------

HIDDEN_STATE_COLUMNS = ("params", "epochs", "best_val_loss", "accept@0.80", "accept@0.85", "accept@0.90",
                        "accept@0.95", "cos_mean", "cos_std")


def hidden_state_table(results: list[dict]):
    """The hidden-state table, each measured column beside the seeds' figure."""
    import pandas as pd

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

    reported = {row["level"]: row for row in seeds.PER_POSITION_TOKEN_TABLE}
    return pd.DataFrame([{
        "adapter": r["adapter"], "same-position top-1": r["same_pos_top1"],
        "seeds: top-1": reported[r["adapter"]]["top1"],
        f"prefill free tokens ({r['slots']} slots)": r["prefill_free_tokens"],
        "seeds: free tokens": reported[r["adapter"]]["free_tokens"],
    } for r in results if r["adapter"] in PER_POSITION]).set_index("adapter")


def head_token_table(results: list[dict]):
    import pandas as pd

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

def extraction_benchmark(profile: Profile) -> list[dict]:
    """samples/s and bytes/sample of each split's extraction, from its report: the report of the
    process that stored the split's last chunk, one of `processes` that shared the split."""
    from xsd.extract import REPORT

    rows = []
    for split in ("train", "test"):
        report = json.loads((Locations(profile).store(split) / REPORT).read_text())
        rows.append({"split": split, "samples": report["samples"], "failed": report["failed"],
                     "processes": int(report.get("shard", "0/1").split("/")[1]),
                     "samples_per_s_per_process": report["samples_per_s_this_run"],
                     "bytes_per_sample": report["bytes_per_sample"], "threads_per_process": report["threads"],
                     "batch_size": report["batch_size"]})
    return rows


def extraction_table(profile: Profile):
    """`extraction_benchmark` per split (rows), with storage in kB per sample instead of bytes."""
    import pandas as pd

    table = pd.DataFrame(extraction_benchmark(profile)).set_index("split")
    table["kB per sample"] = table["bytes_per_sample"] / 1e3
    return table.drop(columns="bytes_per_sample")


def seeds_storage_line() -> str:
    """The seeds' storage per sample beside what half precision takes at their shape (both streams)."""
    s = seeds.STORAGE
    half_mb = 2 * s["tokens"] * s["hidden_size"] * 2 / 1e6
    return (f"seeds: {s['mb_per_sample']} MB per sample (H = {s['hidden_size']}, {s['tokens']} tokens, both "
            f"streams); half precision at that shape is {half_mb:.2f} MB")


def training_speed_table(results: list[dict]):
    """Per adapter (rows): parameters, epochs trained and training samples per second."""
    import pandas as pd

    return pd.DataFrame([{"adapter": r["adapter"], "params": r["params"], "epochs": r["epochs"],
                          "train samples/s": r["train_samples_per_s"]} for r in results]).set_index("adapter")


# -- what the heads' table says, line by line -------------------------------------------------------

def head_lines(results: list[dict]) -> list[str]:
    """Teacher-forced against free-running per head beside the seeds' α; the per-position adapter with
    the most prefill free tokens beside the seeds' best; L5F against B1 beside the seeds'."""
    by_name = {r["adapter"]: r for r in results}
    seed_alpha = {s["level"]: s["consecutive_accepts"] for s in seeds.EAGLE_TOKEN_TABLE}
    seed_hidden = {s["level"]: s for s in seeds.HIDDEN_STATE_TABLE}
    lines = []
    for name in NEXT_STATE:
        r = by_name[name]
        gap = r["teacher_forced_rounds"] - r["free_running_rounds"]
        lines.append(f"{name}: per round TF {r['teacher_forced_rounds']:.3f} vs FR {r['free_running_rounds']:.3f} "
                     f"(TF − FR = {gap:+.3f} drafts per round); first window TF {r['teacher_forced_first_window']:.3f}, "
                     f"FR {r['free_running_first_window']:.3f}; seeds' α {seed_alpha[name]}")
    best = max(PER_POSITION, key=lambda n: by_name[n]["prefill_free_tokens"])
    seed_best = max(seeds.PER_POSITION_TOKEN_TABLE, key=lambda s: s["free_tokens"])
    lines.append(f"most prefill free tokens: {best} ({by_name[best]['prefill_free_tokens']:.2f} of "
                 f"{by_name[best]['slots']}); seeds: {seed_best['level']} ({seed_best['free_tokens']:.2f} of "
                 f"{seeds.TWO_PHASE_CONSTANTS['prefill_slots']})")
    fused, own = by_name["L5F"], by_name["B1"]
    lines.append(f"L5F vs B1, free-running per round: {fused['free_running_rounds']:.3f} vs "
                 f"{own['free_running_rounds']:.3f}; accept@0.90: {fused['accept@0.90']:.3f} vs "
                 f"{own['accept@0.90']:.3f} (seeds: {seed_hidden['L5F']['accept@0.90']} vs "
                 f"{seed_hidden['B1']['accept@0.90']})")
    return lines
