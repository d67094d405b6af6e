"""Is the mini pair in the study's regime? The five quantities that decide it, measured in this run,
beside the same quantities of the mini pair's previous recipe and the seeds' figures.

- per-position alignment (L1's cosine to h_vl): how related the two LLMs' state spaces are; the
  study's two grow from one Vicuna-7B;
- B1's shifted top-1: how well the target's own states predict its next token, which bounds what
  the event stream can add;
- both models' key-fact accuracy: a target that does not read its video answers from priors;
- the target's mean answer length: how much of `ar`'s time decoding is, against the prefill;
- the target/draft time to the first token (vision + prefill): phase 1's window.

`PREVIOUS_RECIPE` is what this artifact measured with its earlier mini recipe (no shared base LLM,
no alignment stage), recorded from that recipe's cold `make book` so that the book can show what
changed; it is a record, not a measurement of this run, and the tables say so.
"""
from __future__ import annotations

from xsd import seeds
from xsd.config import Profile

PREVIOUS_RECIPE = {
    "source": "mini, recipe without base LLM or alignment (commit 337a7cc, cold make book)",
    "L1 cosine": 0.352, "B1 shifted top-1": 0.904,
    "target accuracy": 0.478, "draft accuracy": 0.533,
    "target answer tokens": 13.1, "draft answer tokens": 10.6,
    "prefill ratio": 2.62,
}
SEEDS = {
    "L1 cosine": next(r["cos"] for r in seeds.HIDDEN_STATE_TABLE if r["level"] == "L1"),
    "B1 shifted top-1": next(r["shifted_top1"] for r in seeds.EAGLE_TOKEN_TABLE if r["level"] == "B1"),
    "prefill ratio": seeds.STAGE_TIMING["prefill"]["target"] / seeds.STAGE_TIMING["prefill"]["draft"],
}
WINDOW = f"{seeds.TWO_PHASE_CONSTANTS['n_tokens']}-token window"
SEEDS_WORDS = {"target accuracy": "7B model", "draft accuracy": "7B model",
               "target answer tokens": WINDOW, "draft answer tokens": WINDOW}
RECORDED_PROFILE = "mini"  # the profile PREVIOUS_RECIPE was measured on


def answer_tokens(profile: Profile, split: str = "test") -> dict[str, float]:
    """Mean tokens per answer each model generated in the hidden-state store of `split`."""
    import numpy as np

    from xsd import pipeline
    from xsd.locations import Locations
    from xsd.store import HiddenStateStore

    pipeline.ensure_stores(profile)
    store = HiddenStateStore(Locations(profile).store(split))
    lengths = [(len(r.tok_egpt), len(r.tok_vl)) for r in store.records()]
    if not lengths:
        raise ValueError(f"the {split} store of profile {profile.name} holds no samples")
    draft, target = np.mean(lengths, axis=0)
    return {"draft": float(draft), "target": float(target), "samples": len(lengths)}


def model_regime(profile: Profile, accuracy: dict, timings: dict, tokens: dict):
    """World & models: accuracy, answer length and the prefill ratio (rows), this run beside the
    previous recipe and the seeds (columns)."""
    measured = {"target accuracy": accuracy["target"]["mean"], "draft accuracy": accuracy["draft"]["mean"],
                "target answer tokens": tokens["target"], "draft answer tokens": tokens["draft"],
                "prefill ratio": timings["prefill_ratio_with_vision"]}
    return _table(profile, measured)


def adapter_regime(profile: Profile, results: list[dict]):
    """Feature adapters: L1's cosine to h_vl and B1's shifted top-1 (rows), this run beside the
    previous recipe and the seeds (columns)."""
    by_name = {r["adapter"]: r for r in results}
    measured = {"L1 cosine": by_name["L1"]["cos_mean"], "B1 shifted top-1": by_name["B1"]["shifted_top1"]}
    return _table(profile, measured)


def _table(profile: Profile, measured: dict):
    import pandas as pd

    return pd.DataFrame({f"{profile.name} (this run)": measured,
                         f"{RECORDED_PROFILE}, previous recipe (recorded)": {k: PREVIOUS_RECIPE[k] for k in measured},
                         "seeds": {k: round(SEEDS[k], 3) if k in SEEDS else SEEDS_WORDS[k] for k in measured}})


def shown(table):
    """The table as the notebooks show it: numbers to three decimals (the lines read the unrounded ones)."""
    return table.map(lambda v: round(v, 3) if isinstance(v, float) else v)


def regime_lines(profile: Profile, table) -> list[str]:
    """Per quantity: this run against the previous recipe, 'up from' or 'down from' it, or 'about
    level with' it within ±SAME_WITHIN of it (relative); nothing compared on another profile
    than the one the record is of."""
    from xsd import readings

    if profile.name != RECORDED_PROFILE:
        return [f"The previous recipe's record is of the {RECORDED_PROFILE} profile and this run's is "
                f"{profile.name}, so the book does not compare them."]
    now, before = table.columns[:2]
    lines = []
    for name, row in table.iterrows():
        change = row[now] / row[before] - 1
        relation = ("about level with" if abs(change) <= readings.SAME_WITHIN
                    else "up from" if change > 0 else "down from")
        lines.append(f"{name}: {_show(name, row[now])} in this run, {relation} {_show(name, row[before])} "
                     f"with the previous recipe")
    return lines


def _show(name: str, value: float) -> str:
    if "accuracy" in name:
        return f"{value:.1%}"
    if "ratio" in name:
        return f"{value:.2f}×"
    if "tokens" in name:
        return f"{value:.1f}"
    return f"{value:.3f}"
