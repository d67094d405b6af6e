"""The speed-ratio study: classic speculative decoding's formulas (`xsd.costmodel`, methods §4)
applied to the seeds' own timings, c = T_draft / T_target ≈ 1.

It recomputes the seeds' worked example (α = 0.279, γ = 5, c = 0.93), evaluates the speedup and the
break-even acceptance across grids of α, γ and c, finds the best γ, recounts the seeds' prefill
window under SD's unbroken-prefix rule (with a stages file, also on the file's machine) and
recomputes the seeds' two-phase proxy (`xsd.studies.offline_proxy`). Each reading's words are chosen
by the values (`xsd.readings`); a recomputed figure *agrees* with the seeds' when, printed with as
many decimals as theirs, it reads the same.

Over ~300 lines: the five sections below are one notebook's chain of arithmetic on the same seed
figures (the example's α and c feed the grids, the window and the summary), each a block of short
functions; apart they would pass those figures around for no reader's gain.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from xsd import costmodel, readings, seeds
from xsd.studies.costs_file import prefill_window, stages_c
from xsd.studies.offline_proxy import proxy_convex_in_free_tokens, seeds_recomputed

EXAMPLE = seeds.CLASSIC_SD_EXAMPLE
WINDOW = seeds.PREFILL_WINDOW_SD_PIPELINE
C_EXAMPLES = (0.05, 0.1, 0.3, 0.6)  # speed ratios beside the c used: an EAGLE-style head has c of a few percent
GAMMAS = (1, 2, 3, 5, 8)  # the break-even table's columns
HEATMAP_ALPHAS = np.linspace(0.0, 1.0, 201)
HEATMAP_CS = np.linspace(0.0, 1.2, 241)
ALPHA_GRID = np.linspace(0.05, 0.98, 94)  # where the best γ is searched


def c_used(stages: dict | None, measured_c: float, source: str) -> tuple[float, str]:
    """The speed ratio the study uses and where it comes from: a stages file's c when given, else
    `measured_c` as passed (the seeds' 0.93, or the mini models' stage benchmark)."""
    return stages_c(stages) if stages is not None else (measured_c, source)


def c_values(measured_c: float) -> list[float]:
    """The speed ratios of the tables and figures: `C_EXAMPLES` and the c used (to 3 decimals)."""
    return sorted({*C_EXAMPLES, round(measured_c, 3)})


# -- 1. the seeds' worked example -----------------------------------------------------------------

def seeds_bar() -> float:
    """The acceptance the seeds said SD needs, as a number (their "> 0.95")."""
    return float(EXAMPLE["required_alpha"].lstrip("> "))


def example_recomputed() -> dict[str, tuple]:
    """{quantity: (the seeds' figure, the formula's value)} at the seeds' α, γ and c."""
    alpha, gamma, c = EXAMPLE["alpha"], EXAMPLE["gamma"], EXAMPLE["c"]
    return {
        "expected tokens per round E(α, γ)": (EXAMPLE["expected_tokens"], costmodel.expected_tokens(alpha, gamma)),
        "tokens needed to break even, 1 + c·γ": (EXAMPLE["tokens_needed"], 1 + c * gamma),
        "speedup S(α, γ, c)": (EXAMPLE["speedup"], costmodel.sd_speedup(alpha, gamma, c)),
        "required α for S ≥ 1": (EXAMPLE["required_alpha"], costmodel.required_alpha(gamma, c)),
    }


def example_table() -> pd.DataFrame:
    """The worked example: each quantity as the seeds state it and as the formula gives it."""
    rows = [(name, str(stated), round(value, 4)) for name, (stated, value) in example_recomputed().items()]
    return pd.DataFrame(rows, columns=["quantity", "seeds state", "formula gives"])


def break_even_lines() -> list[str]:
    """The break-even count, the smallest α reaching it and the speedup at the seeds' bar."""
    gamma, c = EXAMPLE["gamma"], EXAMPLE["c"]
    bar = seeds_bar()
    at_bar = costmodel.sd_speedup(bar, gamma, c)
    return [f"E(α, γ) needed: {1 + c * gamma:.2f} tokens per round",
            f"smallest α reaching it: {costmodel.required_alpha(gamma, c):.4f}  "
            f"(seeds: α {EXAMPLE['required_alpha']})",
            f"at α = {bar} the speedup is {at_bar:.3f}× — {'still below' if at_bar < 1 else 'at least'} 1"]


def _slip(name: str, stated, value: float) -> str:
    decimals = readings.decimals_of(stated)
    units = round((round(value, decimals) - stated) * 10 ** decimals)
    one = " — one unit of their last digit" if abs(units) == 1 else ""
    return (f"the {name} is {value:.4f}, {readings.at_precision(value, decimals)} at their "
            f"{readings.number_word(decimals)} decimals, not {stated}{one}")


def example_reading() -> list[str]:
    """Which of the seeds' figures their own formula gives at their precision, the acceptance SD
    really needs, whether their conclusion stands, and their literature table's "speedup"."""
    recomputed = example_recomputed()
    derived = {"expected tokens per round": "expected tokens per round E(α, γ)",
               "break-even count 1 + c·γ": "tokens needed to break even, 1 + c·γ",
               "speedup": "speedup S(α, γ, c)"}
    held = [f"the {name} ({recomputed[key][0]})" for name, key in derived.items()
            if readings.agrees_at_precision(recomputed[key][1], recomputed[key][0])]
    slipped = [_slip(name, *recomputed[key]) for name, key in derived.items()
               if not readings.agrees_at_precision(recomputed[key][1], recomputed[key][0])]
    gamma, c, bar = EXAMPLE["gamma"], EXAMPLE["c"], seeds_bar()
    required, speedup = recomputed["required α for S ≥ 1"][1], recomputed["speedup S(α, γ, c)"][1]
    text = ["**Where the seeds differ from their own formula.** "
            + (f"The formula gives {readings.join(held)} as the seeds state. " if held else "")
            + (f"It does not give the rest: {'; '.join(slipped)}." if slipped else "")]
    required_text = (f"The required acceptance: solving E(α, {gamma}) = {1 + c * gamma:.2f} gives "
                     f"α ≈ {required:.3f}, ")
    if required > bar:
        at_bar = costmodel.sd_speedup(bar, gamma, c)
        required_text += (f"not \"α > {bar}\" — at α = {bar} SD gives {at_bar:.3f}×, "
                          f"{readings.speedup_phrase(at_bar)}.")
    else:
        required_text += f"which the seeds' \"α > {bar}\" covers."
    text.append(required_text)
    if speedup < 1:
        text.append(f"The seeds' conclusion (classic SD cannot win at c = {c}) stands"
                    + (", and the bar is higher than they wrote." if required > bar else "."))
    claimed = EXAMPLE["claimed_speedup_literature_table"]
    if readings.agrees_at_precision(recomputed["expected tokens per round E(α, γ)"][1], claimed):
        text.append(f"Their literature table also lists \"{claimed}×\" as the validated speedup of the TokenAdapter; "
                    f"{claimed} is the expected number of tokens per round, not a speedup — the speedup at that "
                    f"acceptance is {speedup:.2f}×.")
    return text


# -- 2. speedup over α and c; the break-even acceptance -------------------------------------------

def speedup_grid(gamma: int, alphas=HEATMAP_ALPHAS, cs=HEATMAP_CS) -> np.ndarray:
    """S(α, γ, c) at fixed γ, one row per c, one column per α."""
    return np.array([[costmodel.sd_speedup(a, gamma, c) for a in alphas] for c in cs])


def required_alpha_or_none(gamma: int, c: float) -> float | None:
    """The break-even acceptance (`costmodel.required_alpha`), None where no α breaks even."""
    try:
        return costmodel.required_alpha(gamma, c)
    except ValueError:
        return None


def required_alpha_table(cs, gammas=GAMMAS) -> pd.DataFrame:
    """The break-even acceptance to 4 decimals, one row per c, one column per γ (NaN: none)."""
    rows = []
    for c in cs:
        for g in gammas:
            needed = required_alpha_or_none(g, c)
            rows.append({"c": c, "γ": g, "required α": None if needed is None else round(needed, 4)})
    return pd.DataFrame(rows).pivot(index="c", columns="γ", values="required α")


def required_alpha_reading(table: pd.DataFrame, measured_c: float) -> list[str]:
    """Whether the break-even acceptance rises with c in every column, and each row's range."""
    rises = all(column.dropna().is_monotonic_increasing for _, column in table.items())
    lines = []
    for c, row in table.iterrows():
        known = row.dropna()
        if known.empty:
            lines.append(f"- c = {c:g}: no α breaks even at any γ")
            continue
        near = " — near 1" if known.min() >= 0.9 else ""
        missing = (f" (none at γ = {readings.join(int(g) for g in row.index[row.isna()])})"
                   if len(known) < len(row) else "")
        lines.append(f"- c = {c:g}: α ≥ {known.min():.2f} to {known.max():.2f} across γ = "
                     f"{readings.join(int(g) for g in known.index)}{missing}{near}"
                     + (" (the c used here)" if c == round(measured_c, 3) else ""))
    return [f"The break-even acceptance {'rises' if rises else 'does not rise'} with c at every γ:", "\n".join(lines)]


# -- 3. the best γ --------------------------------------------------------------------------------

def optimal_gamma_curves(cs, max_gamma: int, alphas=ALPHA_GRID) -> dict[float, tuple[list[int], list[float]]]:
    """{c: (the best γ at each α of `alphas`, the speedup it gives)}."""
    curves = {}
    for c in cs:
        best = [costmodel.optimal_gamma(a, c, max_gamma) for a in alphas]
        curves[c] = (best, [costmodel.sd_speedup(a, g, c) for a, g in zip(alphas, best)])
    return curves


def optimal_at_lines(alpha: float, cs, max_gamma: int) -> list[str]:
    """The best γ and its speedup at one acceptance, for each c."""
    lines = []
    for c in cs:
        g = costmodel.optimal_gamma(alpha, c, max_gamma)
        lines.append(f"α = {alpha}, c = {c}: optimal γ = {g}, speedup {costmodel.sd_speedup(alpha, g, c):.3f}×")
    return lines


def optimal_gamma_reading(cs, max_gamma: int, alphas=ALPHA_GRID) -> str:
    """Per c: the share of the α grid where the best γ is 1 and where SD beats the target alone,
    and the longest round that pays."""
    lines = []
    for c, (best, speedups) in optimal_gamma_curves(cs, max_gamma, alphas).items():
        wins = [a for a, s in zip(alphas, speedups) if s > 1]
        longer = [g for g, s in zip(best, speedups) if g > 1 and s > 1]
        line = (f"- c = {c:g}: the best γ is 1 for {sum(g == 1 for g in best) / len(best):.0%} of the α grid; "
                f"SD beats the target alone for {len(wins) / len(alphas):.0%} of it")
        line += f", from α ≈ {min(wins):.2f}" if wins else ""
        if longer:
            line += (f"; rounds longer than one draft pay up to γ = {max(longer)}"
                     + (" (the largest γ searched)" if max(longer) == max_gamma else ""))
        else:
            line += "; no longer round pays"
        lines.append(line)
    return "\n".join(lines)


# -- 4. the prefill window ------------------------------------------------------------------------

def window_slots(window: dict = WINDOW) -> int:
    """Draft tokens that fit while the target still prefills (`costmodel.prefill_window_slots`)."""
    return costmodel.prefill_window_slots(t_vl_prefill=window["t_vl_prefill"], t_egpt_prefill=window["t_egpt_prefill"],
                                          t_egpt_decode=window["t_egpt_decode"])


def accepted_prefix(alpha: float, slots: int) -> float:
    """The expected unbroken prefix SD accepts of `slots` drafts: α + α² + … = E(α, n) − 1 (0 with no slot)."""
    return costmodel.expected_tokens(alpha, slots) - 1 if slots else 0.0


def prefill_window_table() -> pd.DataFrame:
    """The seeds' window at each of their α: the slots, their accepted count n·α and SD's prefix."""
    slots = window_slots()
    return pd.DataFrame([{
        "α": alpha, "window (ms)": WINDOW["t_vl_prefill"] - WINDOW["t_egpt_prefill"], "draft tokens in window": slots,
        "seeds: accepted": stated, "n·α (the seeds' count)": round(slots * alpha, 2),
        "accepted prefix under SD": round(accepted_prefix(alpha, slots), 3),
    } for alpha, stated in WINDOW["accepted"].items()])


def parallel_prefill_ms(window: dict, accepted: float) -> float:
    """Target prefill, then the answer's tokens less those accepted from the window, one decode each."""
    return window["t_vl_prefill"] + (window["n_tokens"] - accepted) * window["t_vl_decode"]


def prefill_window_times(alpha: float) -> dict:
    """AR and parallel-prefill times (ms) of the seeds' answer, with their n·α count and with SD's prefix."""
    prefix = accepted_prefix(alpha, window_slots())
    return {"ar": parallel_prefill_ms(WINDOW, 0), "seeds_count": parallel_prefill_ms(WINDOW, WINDOW["accepted"][alpha]),
            "prefix": parallel_prefill_ms(WINDOW, prefix), "accepted_prefix": prefix}


def prefill_window_lines(alpha: float) -> list[str]:
    """The seeds' AR and parallel-prefill times beside the recomputed ones."""
    t = prefill_window_times(alpha)
    return [f"AR, {WINDOW['n_tokens']} tokens: {t['ar']:.0f} ms (seeds: {WINDOW['t_ar_total']:.0f} ms)",
            f"parallel prefill + AR, seeds' count: {t['seeds_count']:.0f} ms -> {t['ar'] / t['seeds_count']:.3f}× "
            f"(seeds: {WINDOW['t_parallel_ar_total']:.0f} ms, {WINDOW['speedup_stated']}×)",
            f"parallel prefill + AR, accepted prefix: {t['prefix']:.0f} ms -> {t['ar'] / t['prefix']:.3f}×"]


def prefill_window_reading(alpha: float) -> str:
    """The window, SD's accepted prefix against the seeds' n·α, and the seeds' own arithmetic."""
    t = prefill_window_times(alpha)
    saving_seeds, saving_prefix = 1 - t["seeds_count"] / t["ar"], 1 - t["prefix"] / t["ar"]
    stated = WINDOW["speedup_stated"]
    arithmetic = ("as their summary table says" if readings.agrees_at_precision(t["ar"] / t["seeds_count"], stated)
                  else f"not the {stated}× of their summary table")
    return (f"The window of {WINDOW['t_vl_prefill'] - WINDOW['t_egpt_prefill']:.0f} ms holds {window_slots()} draft "
            f"tokens, but counting n·α accepted tokens treats every correct draft as usable. A verifier accepts "
            f"drafts only up to the first mismatch, so at the TokenAdapter's α = {alpha} the window yields "
            f"{t['accepted_prefix']:.2f} tokens, not {WINDOW['accepted'][alpha]}, and the seeds' saving of "
            f"{saving_seeds:.1%} becomes {saving_prefix:.2%}" + (" — under 1 %." if saving_prefix < 0.01 else ".")
            + f" (Their own arithmetic: {t['ar']:.0f} ms against {t['seeds_count']:.0f} ms is "
              f"{t['ar'] / t['seeds_count']:.3f}×, {arithmetic}.)")


def measured_window_lines(stages: dict, alpha: float) -> list[str]:
    """The same window from a stages file's timings: both models' prefill and decode step, its
    slots against the seeds', and the parallel-prefill speedup with SD's prefix at `alpha`."""
    own, slots = prefill_window(stages), window_slots()
    own_slots = window_slots(own)
    lines = [f"prefill window measured on {own['measured_on']}:",
             f"  target vision + prefill {own['t_vl_prefill']:.1f} ms ({own['target_visual_tokens']} visual tokens), "
             f"draft {own['t_egpt_prefill']:.1f} ms ({own['draft_visual_tokens']}); decode step: target "
             f"{own['t_vl_decode']:.2f} ms, draft {own['t_egpt_decode']:.2f} ms"]
    if own["window_ms"] > 0:
        relation = "more than" if own_slots > slots else "fewer than" if own_slots < slots else "as many as"
        lines.append(f"  the window of {own['window_ms']:.1f} ms holds {own_slots} draft tokens, {relation} the seeds' "
                     f"{slots} in {WINDOW['t_vl_prefill'] - WINDOW['t_egpt_prefill']:.0f} ms")
    else:
        lines.append(f"  no window: the draft's prefill takes {-own['window_ms']:.1f} ms longer than the target's")
    own_ar = parallel_prefill_ms({**WINDOW, **own}, 0)
    own_parallel = parallel_prefill_ms({**WINDOW, **own}, accepted_prefix(alpha, own_slots))
    seeds_speedup = prefill_window_times(alpha)
    lines.append(f"  AR, {WINDOW['n_tokens']} tokens: {own_ar:.1f} ms; parallel prefill + AR with the accepted prefix "
                 f"at α = {alpha}: {own_parallel:.1f} ms -> {own_ar / own_parallel:.3f}× (seeds' timings: "
                 f"{seeds_speedup['ar'] / seeds_speedup['prefix']:.3f}×)")
    return lines


def measured_window_table(stages: dict) -> pd.DataFrame:
    """The stages file's window at each of the seeds' α: slots, n·α and SD's accepted prefix."""
    own_slots = window_slots(prefill_window(stages))
    return pd.DataFrame([{"α": alpha, "draft tokens in window": own_slots,
                          "n·α (the seeds' count)": round(own_slots * alpha, 2),
                          "accepted prefix under SD": round(accepted_prefix(alpha, own_slots), 3)}
                         for alpha in WINDOW["accepted"]])


# -- 5. the seeds' two-phase proxy ----------------------------------------------------------------

def two_phase_table() -> pd.DataFrame:
    """The seeds' six configurations: rounds and speedup as they state them and recomputed."""
    return pd.DataFrame([{
        "config": r["config"], "free tokens": r["free_tokens"], "decode α": r["alpha_decode"],
        "iterations (seeds)": r["decode_iters"], "iterations (recomputed)": round(r["iterations"], 2),
        "speedup (seeds)": r["speedup"], "speedup (recomputed)": round(r["recomputed"], 3),
        "difference": round(r["recomputed"] - r["speedup"], 3) + 0.0,  # + 0.0 turns -0.0 into 0.0
    } for r in seeds_recomputed()])


def two_phase_reading() -> str:
    """Agreement at the seeds' printed precision (iterations and speedups), and whether averaging
    per-sample speedups, the one cause the formula's shape allows, fits the ones that differ."""
    recomputed = seeds_recomputed()
    off = {what: readings.off_at_precision({r["config"]: (r[stated], r[exact]) for r in recomputed})
           for what, stated, exact in (("iteration counts", "decode_iters", "iterations"),
                                       ("speedups", "speedup", "recomputed"))}
    text = []
    for what, digits in (("iteration counts", 2), ("speedups", 3)):
        sentence = (f"The {what} agree with the seeds' at their printed precision in "
                    f"{readings.count_phrase(len(recomputed) - len(off[what]), len(recomputed))} configurations")
        if off[what]:
            sentence += "; not in " + readings.join(f"{name} ({value:.{digits}f} against {stated})"
                                                    for name, stated, value in off[what])
        text.append(sentence + ".")
    low = [name for name, stated, value in off["speedups"] if value < stated]
    high = [name for name, stated, value in off["speedups"] if value > stated]
    alpha = next(c["alpha_decode"] for c in seeds.TWO_PHASE_CONFIGS if c["config"] == "L5F-only")
    most = 6.0
    convex = proxy_convex_in_free_tokens(alpha, most)
    if low or high:
        cause = ("Rounding the recomputed speedup does not give the seeds' figure. Averaging per-sample speedups "
                 "instead of applying the formula to the mean free tokens would "
                 + (f"raise the result (the speedup is convex in the free tokens, checked here on 0–{most:g} free "
                    f"tokens at α = {alpha})" if convex
                    else "not simply raise the result (the speedup is not convex in the free tokens)"))
        if convex and low and not high:
            cause += f", which fits {readings.join(low)}, recomputed lower than reported"
        elif convex and high:
            cause += f", which does not fit {readings.join(high)}, recomputed higher than reported"
        text.append(cause + "; the seeds publish no per-sample data to check it.")
    return " ".join(text)


# -- 6. with the measured speed ratio -------------------------------------------------------------

def summary(measured_c: float, gamma: int, alpha: float, max_gamma: int) -> dict:
    """At the c used: the break-even α at γ (None: none), the best γ at `alpha` and its speedup."""
    best = costmodel.optimal_gamma(alpha, measured_c, max_gamma)
    return {"required_alpha": required_alpha_or_none(gamma, measured_c), "best_gamma": best,
            "speedup": costmodel.sd_speedup(alpha, best, measured_c)}


def summary_lines(measured_c: float, source: str, gamma: int, alpha: float, max_gamma: int) -> list[str]:
    """The c used, the acceptance classic SD needs with it, and the best it does at `alpha`."""
    s = summary(measured_c, gamma, alpha, max_gamma)
    try:
        verdict = f"classic SD at γ = {gamma} needs α ≥ {costmodel.required_alpha(gamma, measured_c):.3f}"
    except ValueError as error:
        verdict = f"classic SD can never win: {error}"
    return [f"c = {measured_c:.3f} ({source})", verdict,
            f"at the TokenAdapter's α = {alpha}: best γ = {s['best_gamma']}, speedup {s['speedup']:.3f}×"]


def summary_reading(measured_c: float, gamma: int, alpha: float, max_gamma: int) -> list[str]:
    """The c used against the TokenAdapter's rates in the seeds (top-1, top-5), and what follows
    for the design: classic SD losing at this c leaves the draft's prefill and hidden states."""
    top1, top5 = seeds.TOKEN_LEVEL["token_adapter_top1_test"], seeds.TOKEN_LEVEL["token_adapter_top5_test"]
    s = summary(measured_c, gamma, alpha, max_gamma)
    text = f"**Reading.** {readings.c_phrase(measured_c)}. "
    needed = s["required_alpha"]
    if needed is None:
        text += f"No acceptance rate lets classic SD break even at γ = {gamma}. "
    else:
        if needed > top5:
            reach = f"above even the seeds' top-5 bound of {top5}"
        elif needed > top1:
            reach = f"above the seeds' TokenAdapter top-1 of {top1}, within its top-5 bound of {top5}"
        else:
            reach = f"within reach of the seeds' TokenAdapter top-1 of {top1}"
        text += f"Classic SD at γ = {gamma} needs α ≥ {needed:.3f}, {reach}. "
    text += (f"At α = {alpha} the best γ = {s['best_gamma']} gives {s['speedup']:.3f}×, "
             f"{readings.speedup_phrase(s['speedup'])}.")
    if round(s["speedup"], 3) < 1:
        design = ("With classic SD losing at this c, the draft model is worth running for what it does *before* "
                  "the target can decode — its short prefill — and for the hidden states it produces, which a cheap "
                  "head (c of a few percent) can turn into drafts. That is the design the rest of this book "
                  "measures.")
    else:
        design = ("At this c classic SD with the full draft model would pay at the TokenAdapter's rate; the rest of "
                  "this book measures the study's design all the same: the draft's short prefill and its hidden "
                  "states, turned into drafts by a cheap head.")
    return [text, design]
