"""The two-phase offline proxy study: the seeds' cost model for the two-phase decoder
(`costmodel.two_phase_speedup`) recomputed with their constants, then fed with a profile's measured
timings and acceptance, beside the honest model (`costmodel.honest_two_phase_beside`, methods §4)
that charges everything the live decoder pays.

The timing constants come from the mini run's own measurements (the stage benchmark and the live
decode benchmark), or from a costs file and a stages file measured anywhere
(`xsd.studies.costs_file`); the acceptance always comes from the profile's trained adapters
(`xsd.studies.feature_adapters`), and N from the measured mean answer length of its test store.
Each reading's words are chosen by the values (`xsd.readings`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xsd import costmodel, readings, seeds
from xsd.config import Profile
from xsd.names import PER_POSITION
from xsd.studies.costs_file import CostInputs, cost_inputs, load_costs, load_stages, machine_label

CONSTANTS = seeds.TWO_PHASE_CONSTANTS
RUN_TOLERANCE = 0.05  # two accepted runs per round read "about the same" within ±0.05 tokens


# -- the seeds' configurations, with the seeds' constants -----------------------------------------

def proxy_rounds(n_tokens: float, free_tokens: float, alpha_decode: float) -> float:
    """The proxy's (fractional) decode rounds: (N − free) / (α + 1), α the mean accepted run."""
    return (n_tokens - free_tokens) / (alpha_decode + 1)


def seeds_speedup(free_tokens: float, alpha_decode: float) -> float:
    """The seeds' proxy with their own constants (N = 50, P_vl = 310 ms, ...)."""
    return costmodel.two_phase_speedup(
        n_tokens=CONSTANTS["n_tokens"], free_tokens=free_tokens, alpha_decode=alpha_decode,
        t_vl_prefill=CONSTANTS["t_vl_prefill"], t_vl_decode=CONSTANTS["t_vl_decode"],
        t_adapter=CONSTANTS["t_adapter"], t_egpt_prefill=CONSTANTS["t_egpt_prefill"])


def seeds_recomputed() -> list[dict]:
    """The seeds' six configurations, each with its rounds (`iterations`) and speedup (`recomputed`)
    recomputed from the inputs they report, unrounded."""
    return [{**config, "iterations": proxy_rounds(CONSTANTS["n_tokens"], config["free_tokens"], config["alpha_decode"]),
             "recomputed": seeds_speedup(config["free_tokens"], config["alpha_decode"])}
            for config in seeds.TWO_PHASE_CONFIGS]


def proxy_convex_in_free_tokens(alpha_decode: float, most: float = 6.0, points: int = 61) -> bool:
    """Whether the seeds' proxy is convex in the free tokens on [0, most] at `alpha_decode`
    (second differences on an even grid ≥ −1e-12): then averaging per-sample speedups raises
    the result above the formula applied to the mean free tokens."""
    curve = [seeds_speedup(f, alpha_decode) for f in np.linspace(0.0, most, points)]
    return all(a + b - 2 * m > -1e-12 for a, m, b in zip(curve, curve[1:], curve[2:]))


def seeds_table() -> pd.DataFrame:
    """The seeds' speedups beside the recomputed ones (3 decimals) and the difference."""
    return pd.DataFrame([{"config": r["config"], "seeds": r["speedup"], "recomputed": round(r["recomputed"], 3),
                          "difference": round(r["recomputed"] - r["speedup"], 3) + 0.0}  # + 0.0: no -0.0
                         for r in seeds_recomputed()]).set_index("config")


def seeds_reading() -> str:
    """How many configurations agree at the seeds' printed precision, by how much the others
    differ, and whether averaging per-sample speedups could explain it (only if all came out lower
    and the proxy is convex in the free tokens)."""
    recomputed = seeds_recomputed()
    off = readings.off_at_precision({r["config"]: (r["speedup"], r["recomputed"]) for r in recomputed})
    text = (f"{readings.count_phrase(len(recomputed) - len(off), len(recomputed)).capitalize()} configurations agree "
            f"with the seeds to the printed precision")
    if off:
        text += "; " + readings.join(f"{name} comes out {abs(value - stated):.3f} "
                                     f"{'lower' if value < stated else 'higher'} ({value:.3f} against {stated})"
                                     for name, stated, value in off)
        alphas = {r["alpha_decode"] for r in recomputed if r["config"] in {name for name, _, _ in off}}
        if all(value < stated for _, stated, value in off) and all(proxy_convex_in_free_tokens(a) for a in alphas):
            text += (". The *speed ratio* study discusses a possible cause, averaging per-sample speedups, which would "
                     "raise the seeds' figures; their published data cannot confirm it")
    return text + "."


# -- the model fed with a profile's measurements --------------------------------------------------

def _zero_nan(row: dict) -> dict:
    """A metric with nothing to measure (e.g. answers too short for one window) is NaN: count it 0."""
    return {k: (0.0 if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def answer_lengths(profile: Profile) -> list[int]:
    """The length in target tokens of every target answer in the profile's test store."""
    from xsd.extract import open_store

    return [len(record.tok_vl) for record in open_store(profile, "test").records()]


@dataclass(frozen=True)
class OfflineRun:
    """What the measured sections use: the acceptance of every adapter at the feature-adapters
    study's γ (`evaluated`) and of the two heads at the `gamma` the honest model charges (`heads`),
    the answer lengths, and the timing constants (`inputs`; `static_inputs`: a costs file's static
    KV-cache variant, None without one)."""
    profile: str
    gamma: int
    max_new_tokens: int
    answer_lengths: list[int]
    evaluated: dict[str, dict]
    heads: dict[str, dict]
    inputs: CostInputs
    static_inputs: CostInputs | None
    files: tuple[str, ...]

    @property
    def n_tokens(self) -> float:
        """N: the measured mean answer length of the test store, not max_new_tokens."""
        return sum(self.answer_lengths) / len(self.answer_lengths)

    @property
    def proxy_column(self) -> str:
        """The proxy's column, named by the timings it is fed (a file's device or the profile)."""
        return f"proxy ({self.inputs.label if self.inputs.from_file else self.profile})"

    @property
    def concurrent_column(self) -> str:
        return "honest, concurrent" if self.inputs.from_file else "honest, 2 cores"

    @property
    def sequential_column(self) -> str:
        return "honest, sequential" if self.inputs.from_file else "honest, 1 core"

    def tau(self, head: str) -> float:
        """Tokens per round with `head` drafting live: 1 + its free-running accepted run at `gamma`."""
        return 1 + self.heads[head]["free_running_rounds"]


def offline_run(profile: Profile, gamma: int, costs_file: str = "", stages_file: str = "") -> OfflineRun:
    """Measure (or read from the cache) what the model is fed: timings from the files when given,
    else the mini run's stage and decode benchmarks; acceptance from the profile's adapters."""
    from xsd.studies import feature_adapters, live_wallclock, stage_timings

    costs = load_costs(costs_file) if costs_file else None
    stages = load_stages(stages_file) if stages_file else None
    timings = stage_timings.stage_timings(profile) if stages is None else None
    evaluated = {row["adapter"]: _zero_nan(row) for row in feature_adapters.evaluate_profile(profile)}
    heads = evaluated if gamma == feature_adapters.GAMMA else {
        name: _zero_nan(feature_adapters.evaluate_profile_adapter(profile, name, gamma=gamma))
        for name in ("B1", "L5F")}
    bench = live_wallclock.decode_benchmark(profile) if costs is None else None
    measured_on = next((r.get("measured_on") for r in (bench, timings) if r and r.get("measured_on")), None)
    label = machine_label(measured_on, profile.name)
    inputs = cost_inputs(costs, stages, fallback_costs=bench["costs"] if bench else None, fallback_stages=timings,
                         fallback_label=label)
    static = (cost_inputs(costs, stages, fallback_stages=timings, fallback_label=label, static=True)
              if costs is not None and "static_costs" in costs else None)
    return OfflineRun(profile=profile.name, gamma=gamma, max_new_tokens=profile.extract.max_new_tokens,
                      answer_lengths=answer_lengths(profile), evaluated=evaluated, heads=heads, inputs=inputs,
                      static_inputs=static, files=tuple(f for f in (costs_file, stages_file) if f))


def input_lines(run: OfflineRun) -> list[str]:
    """N and the γ of τ; with files, where the constants were measured; a caution if in several places."""
    lines = [f"N = {run.n_tokens:.1f} target tokens, the mean answer length of the {len(run.answer_lengths)} test "
             f"answers (max_new_tokens = {run.max_new_tokens}); τ measured over γ = {run.gamma} windows"]
    if run.inputs.from_file:
        lines.append(f"timing constants from {', '.join(run.files)}, measured on {'; '.join(run.inputs.machines)}; "
                     f"acceptance from the {run.profile} world's adapters")
    if len(run.inputs.machines) > 1:
        lines.append("caution, the constants were measured in more than one place: " + "; ".join(run.inputs.machines))
    return lines


def constants_table(run: OfflineRun) -> pd.DataFrame:
    """Every constant the models use at the run's γ, in ms (3 decimals), with where it was measured."""
    table = pd.DataFrame(run.inputs.constants_ms(run.gamma)).set_index("constant")
    table["ms"] = table["ms"].round(3)
    return table


def configurations(run: OfflineRun) -> list[tuple[str, float, float]]:
    """(config, free tokens, decode α) of the seeds' six configurations with the run's acceptance:
    free tokens of each per-position adapter, the teacher-forced first-window run of L5F or B1."""
    l5f_alpha = run.evaluated["L5F"]["teacher_forced_first_window"]
    b1_alpha = run.evaluated["B1"]["teacher_forced_first_window"]
    return ([(f"{name}+L5F", run.evaluated[name]["prefill_free_tokens"], l5f_alpha) for name in PER_POSITION]
            + [("L5F-only", 0.0, l5f_alpha), ("B1-only", 0.0, b1_alpha)])


def acceptance_table(run: OfflineRun) -> pd.DataFrame:
    """What both models take from the mini world, no timing among it: per configuration its free
    tokens, decode α and τ (free-running, at the run's γ), and N, the mean answer length."""
    return pd.DataFrame([{
        "config": name, "free tokens": round(free, 3), "decode α": round(alpha, 3),
        f"τ (free-running, γ = {run.gamma})": round(run.tau("B1" if name == "B1-only" else "L5F"), 3),
        "N": round(run.n_tokens, 2)} for name, free, alpha in configurations(run)]).set_index("config")


def proxy_table(run: OfflineRun) -> pd.DataFrame:
    """The seeds' proxy with the run's timings and acceptance, beside the seeds' speedup."""
    reported = {c["config"]: c["speedup"] for c in seeds.TWO_PHASE_CONFIGS}
    return pd.DataFrame([{
        "config": name, "free tokens": round(free, 2), "decode α": round(alpha, 3),
        run.proxy_column: round(run.inputs.proxy(n_tokens=run.n_tokens, free_tokens=free, alpha_decode=alpha), 3),
        "seeds": reported[name]} for name, free, alpha in configurations(run)]).set_index("config")


def proxy_reading(run: OfflineRun, table: pd.DataFrame) -> str:
    """The proxy's range against the seeds', and how many configurations beat the target alone."""
    values = table[run.proxy_column]
    faster = int((values.round(3) > 1).sum())
    spread = (f"{values.min():.3f}× in every configuration" if values.min() == values.max()
              else f"{values.min():.3f}× to {values.max():.3f}×")
    return (f"With these timings and the {run.profile} world's acceptance the proxy gives {spread} "
            f"(the seeds: {table['seeds'].min()}× to {table['seeds'].max()}×); "
            f"{readings.count_phrase(faster, len(values), 'configuration')} "
            f"{'is' if faster == 1 or (faster == 0 and len(values) <= 2) else 'are'} faster than decoding with the "
            f"target alone.")


# -- the honest model -----------------------------------------------------------------------------

def honest(run: OfflineRun, free: float, head: str, phase1: bool, concurrent: bool = True, beside: str = "none",
           inputs: CostInputs | None = None) -> dict:
    """The honest model (`CostInputs.honest`) for one configuration: free tokens as measured (from
    t = 0), τ from the head's free-running run, a phase-1 verify where there is a phase 1, and L5F
    waiting for the draft VLM's states."""
    return (inputs or run.inputs).honest(
        n_tokens=run.n_tokens, free_tokens=free, tau=run.tau(head), gamma=run.gamma, head=head,
        draft_bound=head == "L5F", concurrent=concurrent, beside=beside, phase1=phase1, free_from_token0=True)


def honest_table(run: OfflineRun) -> pd.DataFrame:
    """Per configuration: the proxy, the honest model on 2 cores and on 1 (concurrent and sequential
    with a file), beside the draft VLM and over a static cache where a costs file has them, whether
    the draft VLM bounds a round, and τ."""
    proxy = proxy_table(run)[run.proxy_column]
    rows = []
    for name, free, _ in configurations(run):
        head = "B1" if name == "B1-only" else "L5F"
        phase1 = name not in ("B1-only", "L5F-only")  # a prefill adapter's candidates make phase 1
        two_cores, one_core = honest(run, free, head, phase1), honest(run, free, head, phase1, concurrent=False)
        row = {"config": name, run.proxy_column: proxy[name], run.concurrent_column: round(two_cores["speedup"], 3),
               run.sequential_column: round(one_core["speedup"], 3)}
        if run.inputs.beside_draft is not None:  # B1 needs no draft VLM; every L5F configuration runs it throughout
            beside = "none" if head == "B1" else "all"
            row["honest, draft beside"] = round(honest(run, free, head, phase1, beside=beside)["speedup"], 3)
        if run.static_inputs is not None:
            row["honest, static cache"] = round(honest(run, free, head, phase1, inputs=run.static_inputs)["speedup"], 3)
        rows.append({**row, "draft-bound": two_cores["draft_bound"],
                     f"τ (free-running, γ = {run.gamma})": round(run.tau(head), 2)})
    return pd.DataFrame(rows).set_index("config")


def proxy_minus_honest(run: OfflineRun, table: pd.DataFrame) -> pd.Series:
    """The proxy's speedup less the honest model's (concurrent), per configuration."""
    return table[run.proxy_column] - table[run.concurrent_column]


def honest_lines(run: OfflineRun, table: pd.DataFrame) -> list[str]:
    """The honest model's best configuration, the mean gap to the proxy, and with a file how the
    variants beside the draft VLM and over a static cache move the speedup."""
    concurrent = run.concurrent_column
    best = table[concurrent].idxmax()
    differences = proxy_minus_honest(run, table)
    above = int((differences > 0).sum())
    lines = [f"best configuration under the honest model: {best} at {table.loc[best, concurrent]:.2f}× "
             f"(proxy: {table.loc[best, run.proxy_column]:.2f}×), "
             f"{readings.speedup_phrase(table.loc[best, concurrent])}",
             f"proxy minus honest model ({concurrent}), mean over the configurations: {differences.mean():+.2f}×; the "
             f"proxy is above the honest model in {above} of {len(differences)}"]
    if run.inputs.from_file:
        top = table[concurrent].max()
        lines.append(f"costs measured on {run.inputs.label}; acceptance from the {run.profile} world: the proxy is "
                     f"above the honest model in {above} of {len(table)} configurations; the honest model's best, "
                     f"{top:.2f}×, is {'faster' if top > 1 else 'no faster'} than decoding with the target alone")
        for column in ("honest, draft beside", "honest, static cache"):
            if column in table:
                lines.append(f"{column}: {(table[column] - table[concurrent]).mean():+.3f}× on average against "
                             f"{concurrent}")
    return lines


def honest_reading(run: OfflineRun, table: pd.DataFrame) -> list[str]:
    """Where the proxy and the honest model part, term by term (the verify forward against a decode
    step, γ head steps against one, the live accepted run against the teacher-forced one, rounds
    waiting for the draft VLM), and the verdict over the configurations."""
    from xsd.studies.adapter_scores import GAMMA

    inputs, gamma = run.inputs, run.gamma
    verify_s, decode_s, head_s = inputs.verify(gamma + 1), inputs.t_vl_decode, inputs.t_head["L5F"]
    verify_words = readings.ratio_phrase(verify_s, decode_s, size="long", more="longer", less="shorter")
    lines = [f"- A verify forward over γ + 1 = {gamma + 1} positions takes {verify_s * 1e3:.3f} ms against "
             f"{decode_s * 1e3:.3f} ms for a decode step: {verify_words} as the step the proxy charges.",
             f"- A round's {gamma} L5F head steps take {gamma * head_s * 1e3:.3f} ms where the proxy charges one "
             f"({head_s * 1e3:.3f} ms): {gamma * head_s / decode_s:.1%} of a decode step against "
             f"{head_s / decode_s:.1%}."]
    for head in ("L5F", "B1"):
        teacher, live = run.evaluated[head]["teacher_forced_first_window"], run.heads[head]["free_running_rounds"]
        relation = ("about the same as" if readings.agree(live, teacher, RUN_TOLERANCE)
                    else "below" if live < teacher else "above")
        lines.append(f"- {head}: the accepted run per round when drafting live (γ = {gamma}) is {live:.2f}, "
                     f"{relation} the teacher-forced {teacher:.2f} (first γ = {GAMMA} window) the proxy counts.")
    bound = int(table["draft-bound"].sum())
    if bound:
        lines.append(f"- In {readings.count_phrase(bound, len(table), 'configuration')} a round waits for the "
                     f"draft VLM's states, which the proxy never charges.")
    differences = proxy_minus_honest(run, table)
    above, gap = int((differences > 0).sum()), differences.mean()
    verdict = (f"On balance the proxy is above the honest model ({run.concurrent_column}) in "
               f"{readings.count_phrase(above, len(differences), 'configuration')}, by {gap:+.2f}× on average"
               + (": it is optimistic here." if above == len(differences) and gap > 0 else "."))
    return ["\n".join(lines), verdict]
