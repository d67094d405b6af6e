"""The cost models beside the live decoder (sections 5 and 8 of the live study).

Both models of `xsd.costmodel` are fed the way the live study feeds them everywhere: the per-call
costs of the run itself as the loop paid them (`call_costs.loop_cost`, `loop_head_cost`: decode step,
verify forwards and head steps timed inside the runs with no draft process beside them), or of a
costs file from another machine; the draft VLM's prefill and decode step from the stage benchmark
(or a stages file); each method's measured τ, phase-1 free tokens and γ, and the run's mean answer
length. How a method is charged (its head, whether L5F waits for the draft VLM's states, which target
calls run beside the draft) is `costs_file.method_charges`. The honest model charges a phase-1
verify forward for every method, as the study always has, though b1 and l5f have no phase 1: for
them it costs one verify forward, yielding one token, more than the loop pays.

- `proxy_table`: the seeds' proxy and the honest model's overall speedups beside the live ones;
- `decode_time_table`: the honest model's decode phase in ms per sample beside the live one;
- `costs_file_report`: the honest model's decode-phase speedups with a costs file's constants.
"""
from __future__ import annotations

import pandas as pd

from xsd import readings
from xsd.studies.costs_file import CostInputs, cost_inputs, machine_label, method_charges, where
from xsd.studies.live_report import draft_beside
from xsd.studies.live_wallclock import answer_tokens


def run_cost_inputs(bench: dict, timings: dict) -> CostInputs:
    """The models' constants from this run: the target's calls as the loop paid them, the draft
    VLM's prefill and decode step from the stage benchmark `timings` (the same machine)."""
    here = machine_label(bench.get("measured_on"), bench["profile"])
    return cost_inputs(fallback_costs=bench["costs"], fallback_stages=timings, fallback_label=here, in_loop=True)


def modelled(bench: dict) -> dict[str, dict]:
    """The drafting methods the models describe: every one with a γ but prompt-lookup (the models
    know no n-gram search cost)."""
    return {name: m for name, m in bench["methods"].items()
            if m.get("gamma") is not None and not name.startswith("prompt-lookup")}


def honest(inputs: CostInputs, name: str, m: dict, n_tokens: float, beside: bool = False) -> dict:
    """The honest model (`CostInputs.honest`) for method `name` with its summary `m`: its τ (at least
    1) and γ, and for two-phase its phase-1 free tokens (beyond the prefill's token 0, as the loop
    counts them) and phase-1 verify; b1 and l5f have no phase 1, so none is charged. Charged as
    `method_charges` says; `beside`: the target's calls as timed beside the draft VLM where the
    method runs it (a costs file has those costs)."""
    charges = method_charges(name, m.get("policy"))
    phase1 = name.startswith("two-phase")
    return inputs.honest(n_tokens=n_tokens, free_tokens=m["free_tokens_mean"] if phase1 else 0.0,
                         tau=max(m["tau"], 1.0), gamma=m["gamma"], head=charges["head"],
                         draft_bound=charges["draft_bound"], beside=charges["beside"] if beside else "none",
                         phase1=phase1)


# -- 5. the seeds' proxy and the honest model beside the live decoder ------------------------------

def proxy_table(bench: dict, timings: dict) -> pd.DataFrame:
    """Per modelled method: the seeds' proxy and the honest model's overall speedup (this run's costs),
    the live speedup over ar-loop and over ar, and whether the model's rounds wait for the draft VLM."""
    inputs, n_tokens = run_cost_inputs(bench, timings), answer_tokens(bench)
    loop_wall = bench["methods"]["ar-loop"]["wall_s"]
    rows = []
    for name, m in modelled(bench).items():
        model = honest(inputs, name, m, n_tokens)
        proxy = inputs.proxy(n_tokens=n_tokens, free_tokens=m["free_tokens_mean"],
                             alpha_decode=max(m["tau"] - 1, 0.0), head=method_charges(name, m.get("policy"))["head"])
        rows.append({"method": name, "seeds' proxy": round(proxy, 2), "honest model": round(model["speedup"], 2),
                     "live vs ar-loop": round(loop_wall / m["wall_s"], 2), "live vs ar": round(m["speedup_vs_ar"], 2),
                     "draft-bound rounds": model["draft_bound"]})
    return pd.DataFrame(rows, columns=["method", "seeds' proxy", "honest model", "live vs ar-loop", "live vs ar",
                                       "draft-bound rounds"]).set_index("method")


def proxy_reading(table: pd.DataFrame) -> str:
    """For each model, how many methods it puts above the live speedup over ar-loop, and its mean
    absolute gap ("" for an empty table)."""
    if not len(table):
        return ""
    live = table["live vs ar-loop"]
    lines = []
    for column in ("seeds' proxy", "honest model"):
        gap = table[column] - live
        above = int((gap > 0).sum())
        lines.append(f"the {column} is above the live speedup over `ar-loop` for "
                     f"{readings.count_phrase(above, len(gap), 'method')} and off it by {gap.abs().mean():.2f}× on average")
    return "Against what the live decoder reached: " + "; ".join(lines) + "."


# -- the honest model's decode phase against the live one, in time --------------------------------

def decode_time_table(bench: dict, timings: dict) -> pd.DataFrame:
    """The honest model's decode phase (everything after the target's prefill) in ms per sample, fed
    this run's own per-call costs and each method's τ and free tokens, beside the live decode phase:
    the gap is live − model (positive: the live decoder took longer than predicted). The first row,
    ar-loop, is the model's baseline, N − 1 decode steps, against the loop with no drafts."""
    inputs, n_tokens = run_cost_inputs(bench, timings), answer_tokens(bench)
    rows = []

    def row(name, m, model_s, tau, free):
        live_s = m["decode_phase_s"] / m["n_samples"] if m.get("decode_phase_s") is not None else None
        rows.append({"method": name, "τ": tau, "free tokens": free, "model ms / sample": model_s * 1000,
                     "live ms / sample": None if live_s is None else live_s * 1000,
                     "gap ms / sample": None if live_s is None else (live_s - model_s) * 1000,
                     "live / model": None if live_s is None else live_s / model_s,
                     "draft VLM beside": draft_beside(name, m)})

    predicted = {name: (m, honest(inputs, name, m, n_tokens)) for name, m in modelled(bench).items()}
    if "ar-loop" in bench["methods"] and predicted:
        # the model's baseline, the same for every method: N − 1 decode steps after the prefill
        row("ar-loop", bench["methods"]["ar-loop"], next(iter(predicted.values()))[1]["decode_base"], 1.0, 0.0)
    for name, (m, model) in predicted.items():
        row(name, m, model["decode_sd"], m["tau"], m["free_tokens_mean"])
    columns = ["method", "τ", "free tokens", "model ms / sample", "live ms / sample", "gap ms / sample",
               "live / model", "draft VLM beside"]
    return pd.DataFrame(rows, columns=columns).set_index("method")


GROUP_WORDS = {"none": "with no draft process", "throughout": "with the draft VLM decoding beside the target throughout",
               "prefill only": "with the draft VLM stopped after the prefill",
               "paused while verifying": "with the draft VLM held during each verify forward"}


def decode_time_reading(table: pd.DataFrame) -> str:
    """How many predicted decode phases fall short of the live ones and the mean absolute gap; the
    method furthest off and by how much; the baseline's gap; the mean gap by how the draft VLM ran
    beside the target ("" when no drafting method was measured)."""
    measured = table.dropna(subset=["gap ms / sample"])
    methods = measured.drop(index="ar-loop", errors="ignore")
    if not len(methods):
        return ""
    gaps = methods["gap ms / sample"]
    short = int((gaps > 0).sum())
    worst = gaps.abs().idxmax()
    w = methods.loc[worst]
    text = [f"Fed this run's own per-call costs, τ and free tokens, the honest model predicts a shorter decode phase "
            f"than the live one for {readings.count_phrase(short, len(methods), 'method')}, and is off it by "
            f"{gaps.abs().mean():.2f} ms per sample on average (absolute). It is furthest off for {worst}: "
            f"{w['model ms / sample']:.2f} ms predicted against {w['live ms / sample']:.2f} ms live, "
            f"{abs(w['gap ms / sample']):.2f} ms {'short' if w['gap ms / sample'] > 0 else 'too long'}; the live decode "
            f"phase is {_as_long(w)} as predicted."]
    if "ar-loop" in measured.index:
        base = measured.loc["ar-loop"]
        text.append(f"For `ar-loop`, the model's N − 1 decode steps come to {base['model ms / sample']:.2f} ms against "
                    f"{base['live ms / sample']:.2f} ms live ({base['gap ms / sample']:+.2f} ms; {_as_long(base)} as "
                    "predicted).")
    groups = methods.groupby("draft VLM beside", sort=False)["gap ms / sample"].mean()
    if len(groups) > 1:
        text.append("By how the draft VLM ran beside the target, the mean gap per sample is " + readings.join(
            f"{value:+.2f} ms {GROUP_WORDS[group]}" for group, value in groups.items()) + "; the model charges the "
            "target's calls as the loop paid them with no draft process beside it.")
    return " ".join(text)


def _as_long(row: pd.Series) -> str:
    """The live decode phase against the predicted one, in words ("about as long", "2.1 times as long")."""
    return readings.ratio_phrase(row["live ms / sample"], row["model ms / sample"], size="long", more="longer",
                                 less="shorter")


# -- 8. costs from another machine ----------------------------------------------------------------

def costs_file_report(bench: dict, timings: dict, file_costs: dict, file_stages: dict | None) -> dict:
    """The honest model's decode-phase speedup per modelled method with a costs file's constants (the
    target alone, beside the draft VLM, over a static cache) and with this run's own, beside the live
    one: {"table": DataFrame, "lines": what the study prints about it, "device": the file's device}."""
    profile = bench["profile"]
    here = machine_label(bench.get("measured_on"), profile)
    n_tokens = answer_tokens(bench)
    on_file = cost_inputs(file_costs, file_stages, fallback_stages=timings, fallback_label=here)
    on_file_static = (cost_inputs(file_costs, file_stages, fallback_stages=timings, fallback_label=here, static=True)
                      if "static_costs" in file_costs else None)
    on_run = run_cost_inputs(bench, timings)
    device = on_file.label
    lines = [f"costs measured on {where(file_costs)}; acceptance from the {profile} world "
             f"({bench['n_samples']} samples of this {profile} run, {n_tokens:.1f} target tokens per answer)",
             f"beside the draft VLM: the draft ran on "
             f"{file_costs['costs']['beside_draft'].get('draft_device', 'its device')} while the target's calls were timed"]
    if len(on_file.machines) > 1:
        lines.append("caution, the constants were measured in more than one place: " + "; ".join(on_file.machines))
    rows = []
    for name, m in modelled(bench).items():
        row = {"method": name, f"τ ({profile})": round(m["tau"], 2),
               f"{device}: alone": honest(on_file, name, m, n_tokens)["decode_speedup"],
               f"{device}: draft beside": honest(on_file, name, m, n_tokens, beside=True)["decode_speedup"]}
        if on_file_static is not None:
            row[f"{device}: static cache"] = honest(on_file_static, name, m, n_tokens)["decode_speedup"]
        row[f"{profile} costs (model)"] = honest(on_run, name, m, n_tokens)["decode_speedup"]
        row[f"{profile}, live"] = m.get("decode_speedup_vs_ar_loop")
        rows.append(row)
    table = pd.DataFrame(rows).set_index("method").astype(float)
    if len(table):
        best = table[f"{device}: draft beside"].idxmax()
        live = table.loc[best, f"{profile}, live"]
        lines.append(f"with the costs of {device}, the honest model's best decode-phase speedup is {best} at "
                     f"{table.loc[best, f'{device}: draft beside']:.2f}× with the draft beside the target "
                     f"({table.loc[best, f'{device}: alone']:.2f}× alone); {here} measured "
                     f"{'n/a' if pd.isna(live) else f'{live:.2f}×'} for it")
        measured = table.dropna(subset=[f"{profile}, live"])
        if len(measured):
            error = (measured[f"{profile} costs (model)"] - measured[f"{profile}, live"]).abs().mean()
            lines.append(f"the model with this run's own costs is {error:.2f}× off the live decode-phase speedup on "
                         f"average, the yardstick for reading the {device} columns")
    return {"table": table, "lines": lines, "device": device}
