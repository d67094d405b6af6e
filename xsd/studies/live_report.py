"""The live benchmark's tables and readings, sections 1–4 of the live study: speedup and exactness,
where the time goes (phases, the target's slowdown), acceptance per draft position, and the draft
VLM's policies. Every function reads a `decode_benchmark` result (`bench`) and computes nothing the
summary does not hold but ratios, means and selections of it; sentences are chosen by the values.
"""
from __future__ import annotations

import pandas as pd

from xsd import readings


def run_line(bench: dict) -> str:
    """One line saying what the run measured: profile, samples, γ, policies, tokens, threads."""
    return (f"profile {bench['profile']}: {bench['n_samples']} test samples, γ ∈ {bench['gammas']}, "
            f"policies {bench['policies']}, up to {bench['max_new_tokens']} new tokens, threads {bench['threads']}, "
            f"phase-1 adapter {bench['prefill_adapter']}")


# -- 1. speedup and exactness ---------------------------------------------------------------------

def _rounded(m: dict, key: str, digits: int):
    """m[key] rounded, or None where the summary has no such value (or it is 0 or None)."""
    return round(m[key], digits) if m.get(key) else None


def method_table(bench: dict) -> pd.DataFrame:
    """Section 1's table, one row per method: speedups (end to end, per sample, decode phase), exact
    match, τ, phase 1's free tokens, time outside model calls, the ceiling and the share of it reached."""
    rows = []
    for name, m in bench["methods"].items():
        rows.append({
            "method": name, "speedup vs ar": round(m["speedup_vs_ar"], 3),
            "speedup vs ar-loop": _rounded(m, "speedup_vs_ar_loop", 3),
            "per-sample min": round(m["speedup_per_sample"]["min"], 2),
            "per-sample max": round(m["speedup_per_sample"]["max"], 2),
            "exact match": m["exact_match_rate"], "τ": round(m["tau"], 2) if "tau" in m else None,
            "free tokens (phase 1)": round(m["free_tokens_mean"], 2) if "free_tokens_mean" in m else None,
            "outside model calls": (round(m["outside_forward_fraction"], 3)
                                    if "outside_forward_fraction" in m else None),
            "ceiling": _rounded(m, "ceiling", 2),
            "decode-phase vs ar": _rounded(m, "decode_speedup_vs_ar", 2),
            "decode-phase vs ar-loop": _rounded(m, "decode_speedup_vs_ar_loop", 2),
            "share of ceiling": _rounded(m, "fraction_of_ceiling", 2),
            "share, head step as in the loop": _rounded(m, "fraction_of_ceiling_loop_head", 2),
        })
    return pd.DataFrame(rows).set_index("method")


def exact_match_reading(bench: dict) -> str:
    """How many methods reproduced `ar`'s tokens on every sample, and which did not, how often."""
    exact = {name: m["exact_match_rate"] for name, m in bench["methods"].items()}
    short = {name: rate for name, rate in exact.items() if rate < 1.0}
    return (f"Exact match: {readings.count_phrase(len(exact) - len(short), len(exact), 'method')} reproduced `ar`'s "
            f"tokens on every one of the {bench['n_samples']} samples"
            + (f"; {readings.join(f'{name} on {rate:.0%} of them' for name, rate in short.items())}, which a lossless "
               "decoder must not do." if short else "."))


WAITING_POLICIES = ("wait", "pause-verify")  # the head reads every event state it drafts from


def timing_free(name: str, m: dict) -> bool:
    """Whether a method's tokens, τ and acceptance come out the same in every run, whatever the
    machine's speed: `ar`, `ar-loop`, prompt lookup and B1 read no event states, and L5F under a
    waiting policy reads every one. Phase 1's candidates depend on how far the draft VLM got during
    the target's prefill, so two-phase never is; nor is L5F where it drafts on with zero rows."""
    return not name.startswith("two-phase") and (m.get("policy") is None or m["policy"] in WAITING_POLICIES)


def timing_free_table(bench: dict) -> pd.DataFrame:
    """What ran, in numbers no timing moves: per timing-free method (rows) its samples, emitted
    tokens, exact match, τ and the first draft's acceptance."""
    rows = [{"method": name, "samples": m["n_samples"], "tokens": m["tokens"], "exact match": m["exact_match_rate"],
             "τ": round(m["tau"], 3) if "tau" in m else None,
             "draft 1 accepted": (round(m["per_position_acceptance"][0], 3)
                                  if m.get("per_position_acceptance") else None)}
            for name, m in bench["methods"].items() if timing_free(name, m)]
    return pd.DataFrame(rows).set_index("method")


def verified_drafts_reading(bench: dict) -> str:
    """Whether every drafting method accepted drafts in its verify rounds (τ above 1): the check
    that the drafting paths ran, not only the target's own."""
    taus = {name: m["tau"] for name, m in bench["methods"].items() if m.get("gamma")}
    none = [name for name, tau in taus.items() if tau <= 1.0]
    return (f"Verify rounds: {readings.count_phrase(len(taus) - len(none), len(taus), 'drafting method')} had drafts "
            "accepted (τ above 1)" + (f"; {readings.join(none)} had none accepted." if none else "."))


def per_sample(bench: dict) -> pd.DataFrame:
    """Every method's run on every sample: method, sample, answer tokens and speedup over `ar` on that
    sample (the summary's `per_sample`)."""
    return pd.DataFrame([{"method": name, **entry} for name, m in bench["methods"].items()
                         for entry in m["per_sample"]], columns=["method", "sample", "tokens", "speedup"])


# -- 2. where the time goes -----------------------------------------------------------------------

def drafting_methods(bench: dict) -> list[str]:
    """The methods run in the package's loop, whose time splits into phases (ar-loop included)."""
    return [name for name, m in bench["methods"].items() if "phases_s" in m]


def phase_table(bench: dict) -> pd.DataFrame:
    """Milliseconds per sample in each phase (prefill, draft, verify, other), one row per loop method."""
    methods = bench["methods"]
    return pd.DataFrame({name: {k.replace("_s", ""): v / methods[name]["n_samples"] * 1000
                                for k, v in methods[name]["phases_s"].items() if k != "total_s"}
                         for name in drafting_methods(bench)}).T


def slowdown_table(bench: dict) -> pd.DataFrame:
    """The target's prefill and verify time in each loop method over what its per-call costs timed
    alone predict (`live_wallclock.target_slowdown`)."""
    methods = bench["methods"]
    table = pd.DataFrame({name: methods[name]["target_slowdown"] for name in drafting_methods(bench)
                          if "target_slowdown" in methods[name]}).T
    table.columns = [f"target {c} slowdown" for c in table.columns]
    return table


def draft_beside(name: str, m: dict) -> str:
    """When the draft VLM ran beside the target in method `name` (summary `m`): "none", "prefill
    only", "paused while verifying" or "throughout"."""
    if not name.startswith(("l5f", "two-phase")):
        return "none"
    return {"prefill-only": "prefill only", "pause-verify": "paused while verifying"}.get(m.get("policy"),
                                                                                         "throughout")


BESIDE_WORDS = {"none": "with no draft process", "throughout": "with the draft VLM decoding beside them throughout",
                "prefill only": "with the draft VLM stopped after the prefill (`prefill-only`)",
                "paused while verifying": "with the draft VLM held during each verify forward (`pause-verify`)"}


def slowdown_reading(bench: dict) -> str:
    """The verify slowdown's range and mean for each way the draft VLM ran beside the target, and
    the mean with it throughout against the mean with no draft process ("" without verify slowdowns)."""
    groups: dict[str, list[float]] = {}
    for name, m in bench["methods"].items():
        value = (m.get("target_slowdown") or {}).get("verify")
        if "phases_s" in m and value is not None:
            groups.setdefault(draft_beside(name, m), []).append(value)
    if not groups:
        return ""
    spans = [f"{BESIDE_WORDS[k]}, {min(v):.2f}–{max(v):.2f}× (mean {sum(v) / len(v):.2f}×)" for k, v in groups.items()]
    text = "The target's verify calls ran at these multiples of their cost timed alone: " + "; ".join(spans) + "."
    if "none" in groups and "throughout" in groups:
        alone = sum(groups["none"]) / len(groups["none"])
        beside = sum(groups["throughout"]) / len(groups["throughout"])
        text += (f" With the draft VLM beside them throughout, the mean slowdown is "
                 f"{readings.ratio_phrase(beside, alone)} as with no draft process. That is a measured observation; "
                 "this run does not tell cores, caches or memory bandwidth apart as its cause.")
    return text


# -- 3. acceptance per draft position -------------------------------------------------------------

def acceptance_by_position(bench: dict) -> dict[str, list[float]]:
    """P(draft i accepted | drafts 1…i−1 accepted), i = 1..γ, per method that drafted full rounds."""
    return {name: m["per_position_acceptance"] for name, m in bench["methods"].items()
            if m.get("per_position_acceptance")}


def acceptance_table(bench: dict) -> pd.DataFrame:
    """`acceptance_by_position` as a table: one row per method, one column per draft position from 0."""
    return pd.DataFrame({k: pd.Series(v) for k, v in acceptance_by_position(bench).items()}).T


# -- 4. waiting for the draft VLM, or not ---------------------------------------------------------

def policy_rows(bench: dict) -> pd.DataFrame:
    """One row per method run under a policy: speedup over ar, τ, wait and zero rows per sample."""
    return pd.DataFrame([{"method": name.split()[0], "policy": m["policy"],
                          "speedup vs ar": round(m["speedup_vs_ar"], 3), "τ": round(m["tau"], 2),
                          "wait ms / sample": round(m["egpt_wait_s"] * 1000 / m["n_samples"], 1),
                          "zero rows / sample": round(m["egpt_missing"] / m["n_samples"], 1),
                          "outside model calls": round(m["outside_forward_fraction"], 3)}
                         for name, m in bench["methods"].items() if m.get("policy")])


def policy_table(bench: dict) -> pd.DataFrame:
    """Section 4's table: speedup, τ and wait per method (rows) and policy (columns)."""
    rows = policy_rows(bench)
    if not len(rows):
        return rows
    return rows.pivot(index="method", columns="policy", values=["speedup vs ar", "τ", "wait ms / sample"])


def policy_reading(bench: dict, timings: dict) -> str:
    """c from the stage benchmark, whether the head waited for the draft VLM under the blocking
    policies, and the fastest policy per method ("" when no method ran under a policy)."""
    rows = policy_rows(bench)
    if not len(rows):
        return ""
    text = [f"Measured on the stage benchmark, {readings.c_phrase(timings['c'])}."]
    for policy in ("wait", "pause-verify"):  # the policies that block on a missing state
        waits = rows[rows.policy == policy]
        if not len(waits):
            continue
        waited = waits[waits["wait ms / sample"] > 0]
        if len(waited):
            text.append(f"Under `{policy}`, the head waited for the draft VLM in "
                        f"{readings.count_phrase(len(waited), len(waits), 'method')}, "
                        f"{waited['wait ms / sample'].min():.1f} to {waited['wait ms / sample'].max():.1f} ms per "
                        "sample: there it caught up with the draft VLM at least once.")
        else:
            text.append(f"Under `{policy}`, the head never waited: it did not catch up with the draft VLM.")
    fastest = rows.loc[rows.groupby("method")["speedup vs ar"].idxmax()]
    counts = fastest["policy"].value_counts()
    text.append("The fastest policy per method: " + readings.join(
        f"`{policy}` for {readings.count_phrase(int(k), len(fastest), 'method')}" for policy, k in counts.items()) + ".")
    return " ".join(text)
