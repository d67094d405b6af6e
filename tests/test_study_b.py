"""The speed-ratio and offline-proxy studies' computations (xsd.studies.speed_ratio,
xsd.studies.offline_proxy): tables from the seeds' figures and the cost models, and readings whose
words follow the values."""
import math

import pandas as pd
import pytest

from xsd import costmodel
from xsd.studies import offline_proxy, speed_ratio
from xsd.studies.costs_file import cost_inputs

GPU = {"device": "cuda:0", "device_name": "Test GPU 9000", "dtype": "bfloat16"}


def _stages(target_prefill=470.0, draft_prefill=97.0, draft_decode=14.0) -> dict:
    """A stages file's content (ms), as `xsd bench stages --json` writes it."""
    def model(prefill, decode, visual):
        return {"prefill_with_vision": prefill, "decode_per_token": decode, "prompt_tokens": 100,
                "visual_tokens": visual}
    return {"profile": "shapes", "measured_on": dict(GPU), "c": draft_decode / 15.0,
            "draft": model(draft_prefill, draft_decode, 258), "target": model(target_prefill, 15.0, 2056)}


def _costs() -> dict:
    """A costs file's content (s), as `xsd bench decode --costs-only --json` writes it."""
    verify = {str(k): 0.015 + 0.001 * (k - 1) for k in range(1, 9)}
    costs = {"prefill_s": 0.47, "decode_s": 0.015, "verify_s": verify, "head_step_s": {"B1": 0.0004, "L5F": 0.0006},
             "prompt_tokens": 100,
             "beside_draft": {"prefill_s": 0.52, "decode_s": 0.018, "verify_s": {k: 1.2 * v for k, v in verify.items()}},
             "draft_slowdown": {"prefill": 1.1, "decode": 1.2, "verify": {k: 1.2 for k in verify}}}
    return {"kind": "costs", "profile": "shapes", "measured_on": dict(GPU), "costs": costs,
            "prompt_padding": {"target": 100, "draft": 100},
            "static_costs": {**costs, "decode_s": 0.0075, "verify_s": {k: v / 2 for k, v in verify.items()}}}


# -- speed ratio: the worked example --------------------------------------------------------------

def test_the_speed_ratio_comes_from_a_stages_file_when_given():
    assert speed_ratio.c_used(None, 0.9, "mine") == (0.9, "mine")
    c, source = speed_ratio.c_used(_stages(), 0.9, "mine")
    assert c == pytest.approx(14 / 15) and source.startswith("stages file: Test GPU 9000")
    assert speed_ratio.c_values(0.93) == [0.05, 0.1, 0.3, 0.6, 0.93]
    assert speed_ratio.c_values(0.1) == [0.05, 0.1, 0.3, 0.6]  # the c used is one of the examples


def test_the_worked_example_is_recomputed_and_its_slips_named():
    table = speed_ratio.example_table()
    assert list(table["formula gives"]) == [1.3863, 5.65, 0.2454, 0.9759]
    assert list(table["seeds state"]) == ["1.39", "5.65", "0.24", "> 0.95"]
    assert speed_ratio.seeds_bar() == 0.95
    lines = speed_ratio.break_even_lines()
    assert lines[1].endswith("(seeds: α > 0.95)") and "0.938× — still below 1" in lines[2]
    first, required, conclusion, literature = speed_ratio.example_reading()
    assert "the expected tokens per round (1.39) and the break-even count 1 + c·γ (5.65) as the seeds state" in first
    assert "the speedup is 0.2454, 0.25 at their two decimals, not 0.24 — one unit of their last digit" in first
    assert 'not "α > 0.95" — at α = 0.95 SD gives 0.938×, slower' in required
    assert conclusion.endswith("the bar is higher than they wrote.")
    assert "the speedup at that acceptance is 0.25×" in literature


# -- speed ratio: grids ---------------------------------------------------------------------------

def test_the_speedup_grid_holds_the_formula():
    grid = speed_ratio.speedup_grid(5, alphas=[0.0, 0.5, 1.0], cs=[0.0, 1.0])
    assert grid.shape == (2, 3)
    assert grid[1, 1] == pytest.approx(costmodel.sd_speedup(0.5, 5, 1.0)) and grid[0, 2] == pytest.approx(6.0)


def test_the_break_even_table_is_empty_where_no_alpha_breaks_even_and_the_reading_says_so():
    table = speed_ratio.required_alpha_table([0.05, 1.1], gammas=(1, 5))
    assert table.loc[0.05, 1] == 0.05 and table.loc[0.05, 5] == 0.2001
    assert table.loc[1.1].isna().all()
    head, lines = speed_ratio.required_alpha_reading(table, measured_c=1.1)
    assert head == "The break-even acceptance rises with c at every γ:"
    assert "- c = 1.1: no α breaks even at any γ" in lines
    assert "- c = 0.05: α ≥ 0.05 to 0.20 across γ = 1 and 5" in lines


def test_the_break_even_reading_names_missing_gammas_the_c_used_and_a_fall():
    table = pd.DataFrame({1: [0.95, 0.5], 2: [math.nan, 0.6]}, index=pd.Index([0.95, 0.97], name="c"))
    head, lines = speed_ratio.required_alpha_reading(table, measured_c=0.95)
    assert head.startswith("The break-even acceptance does not rise")
    assert "- c = 0.95: α ≥ 0.95 to 0.95 across γ = 1 (none at γ = 2) — near 1 (the c used here)" in lines


def test_the_best_gamma_reading_follows_the_grid():
    text = speed_ratio.optimal_gamma_reading([0.05, 1.5], max_gamma=32)
    cheap, dear = text.split("\n")
    assert cheap.startswith("- c = 0.05: the best γ is 1 for 21% of the α grid; SD beats the target alone for 99%")
    assert cheap.endswith("pay up to γ = 32 (the largest γ searched)")
    assert dear == "- c = 1.5: the best γ is 1 for 100% of the α grid; SD beats the target alone for 0% of it; " \
                   "no longer round pays"
    curves = speed_ratio.optimal_gamma_curves([0.05], 32, alphas=[0.279])
    assert curves[0.05] == ([2], [pytest.approx(1.233, abs=5e-4)])
    assert speed_ratio.optimal_at_lines(0.279, [0.93], 32) == ["α = 0.279, c = 0.93: optimal γ = 1, speedup 0.663×"]


# -- speed ratio: the prefill window --------------------------------------------------------------

def test_the_prefill_window_counts_an_unbroken_prefix():
    table = speed_ratio.prefill_window_table()
    assert list(table["draft tokens in window"]) == [26, 26]
    assert list(table["n·α (the seeds' count)"]) == [7.25, 13.42]
    assert list(table["accepted prefix under SD"]) == [0.387, 1.066]
    assert speed_ratio.accepted_prefix(0.5, 0) == 0.0
    times = speed_ratio.prefill_window_times(0.279)
    assert (times["ar"], times["seeds_count"]) == (1220.0, 1115.0)
    lines = speed_ratio.prefill_window_lines(0.279)
    assert lines[1] == "parallel prefill + AR, seeds' count: 1115 ms -> 1.094× (seeds: 1115 ms, 1.08×)"
    reading = speed_ratio.prefill_window_reading(0.279)
    assert "yields 0.39 tokens, not 7" in reading and "becomes 0.48% — under 1 %." in reading
    assert "is 1.094×, not the 1.08× of their summary table" in reading


@pytest.mark.parametrize("target_prefill, relation", [(470.0, "as many as the seeds' 26"),
                                                      (700.0, "more than the seeds' 26"),
                                                      (200.0, "fewer than the seeds' 26")])
def test_a_stages_file_opens_its_own_window(target_prefill, relation):
    lines = speed_ratio.measured_window_lines(_stages(target_prefill=target_prefill), 0.279)
    assert lines[0].startswith("prefill window measured on Test GPU 9000")
    assert relation in lines[2]
    table = speed_ratio.measured_window_table(_stages(target_prefill=target_prefill))
    assert list(table["α"]) == [0.279, 0.516]


def test_a_draft_slower_to_prefill_opens_no_window():
    stages = _stages(target_prefill=90.0, draft_prefill=97.0)
    lines = speed_ratio.measured_window_lines(stages, 0.279)
    assert lines[2] == "  no window: the draft's prefill takes 7.0 ms longer than the target's"
    assert lines[3].endswith("-> 1.000× (seeds' timings: 1.005×)")
    assert list(speed_ratio.measured_window_table(stages)["accepted prefix under SD"]) == [0.0, 0.0]


# -- the seeds' two-phase proxy -------------------------------------------------------------------

def test_the_seeds_configurations_are_recomputed():
    assert offline_proxy.proxy_rounds(50, 3.82, 0.73) == pytest.approx(26.69, abs=5e-3)
    rows = {r["config"]: r for r in offline_proxy.seeds_recomputed()}
    assert rows["L1+L5F"]["recomputed"] == pytest.approx(costmodel.two_phase_speedup(
        n_tokens=50, free_tokens=3.82, alpha_decode=0.73, t_vl_prefill=310, t_vl_decode=25, t_adapter=1.5,
        t_egpt_prefill=130))
    table = offline_proxy.seeds_table()
    assert list(table["recomputed"]) == [1.533, 1.554, 1.558, 1.551, 1.45, 1.314]
    assert str(table.loc["L5F-only", "difference"]) == "0.0"  # not -0.0
    wide = speed_ratio.two_phase_table()
    assert list(wide["iterations (recomputed)"]) == [26.69, 26.17, 26.1, 26.25, 28.9, 33.11]
    assert list(wide["speedup (recomputed)"]) == list(table["recomputed"])


def test_the_proxy_is_convex_in_the_free_tokens():
    assert offline_proxy.proxy_convex_in_free_tokens(0.73)
    assert offline_proxy.proxy_convex_in_free_tokens(0.51, most=40.0)


def test_the_readings_name_the_configurations_that_differ_and_a_cause_that_fits():
    reading = speed_ratio.two_phase_reading()
    assert reading.startswith("The iteration counts agree with the seeds' at their printed precision in four of "
                              "the six configurations; not in L2+L5F (26.17 against 26.1) and L3+L5F (26.10 against 26.0).")
    assert "checked here on 0–6 free tokens at α = 0.73), which fits L1+L5F and L2+L5F, recomputed lower" in reading
    short = offline_proxy.seeds_reading()
    assert short.startswith("Four of the six configurations agree with the seeds to the printed precision; "
                            "L1+L5F comes out 0.007 lower (1.533 against 1.54)")
    assert "averaging per-sample speedups, which would raise the seeds' figures" in short


# -- speed ratio: the summary ---------------------------------------------------------------------

@pytest.mark.parametrize("c, words", [
    (0.93, "needs α ≥ 0.976, above even the seeds' top-5 bound of 0.5164"),
    (0.3, "needs α ≥ 0.624, above even the seeds' top-5 bound"),
    (0.2, "needs α ≥ 0.509, above the seeds' TokenAdapter top-1 of 0.279, within its top-5 bound"),
    (0.05, "needs α ≥ 0.200, within reach of the seeds' TokenAdapter top-1 of 0.279"),
    (1.1, "No acceptance rate lets classic SD break even at γ = 5."),
])
def test_the_summary_sets_the_break_even_against_the_seeds_rates(c, words):
    text, design = speed_ratio.summary_reading(c, 5, 0.279, 32)
    assert words in text
    losing = speed_ratio.summary(c, 5, 0.279, 32)["speedup"] < 1
    assert design.startswith("With classic SD losing" if losing else "At this c classic SD")


def test_the_summary_lines_say_when_classic_sd_never_wins():
    lines = speed_ratio.summary_lines(1.1, "mine", 5, 0.279, 32)
    assert lines[0] == "c = 1.100 (mine)" and lines[1].startswith("classic SD can never win: no acceptance rate")
    assert speed_ratio.summary(1.1, 5, 0.279, 32)["required_alpha"] is None
    assert speed_ratio.summary_lines(0.93, "mine", 5, 0.279, 32)[1] == "classic SD at γ = 5 needs α ≥ 0.976"


# -- the offline proxy fed with measurements ------------------------------------------------------

def _scores(free=1.0, teacher=0.5, live=0.4) -> dict:
    return {"prefill_free_tokens": free, "teacher_forced_first_window": teacher, "free_running_rounds": live}


def _run(from_file: bool, draft_decode_ms: float = 14.0, live=0.4) -> offline_proxy.OfflineRun:
    stages = _stages(draft_decode=draft_decode_ms)
    if from_file:
        inputs = cost_inputs(_costs(), stages)
        static = cost_inputs(_costs(), stages, static=True)
    else:
        bench = {k: v for k, v in _costs()["costs"].items() if k not in ("beside_draft", "draft_slowdown")}
        inputs, static = cost_inputs(fallback_costs=bench, fallback_stages=stages, fallback_label="the mini run"), None
    evaluated = {name: _scores(free=float(i)) for i, name in enumerate(("L1", "L2", "L3", "L4"), 1)}
    evaluated |= {"B1": _scores(teacher=0.3, live=live), "L5F": _scores(live=live)}
    return offline_proxy.OfflineRun(profile="mini", gamma=3, max_new_tokens=50, answer_lengths=[40, 50, 60],
                                    evaluated=evaluated, heads=evaluated, inputs=inputs, static_inputs=static,
                                    files=("costs.json", "stages.json") if from_file else ())


def test_a_run_fed_by_the_mini_benchmarks():
    run = _run(from_file=False)
    assert run.n_tokens == 50 and run.tau("L5F") == pytest.approx(1.4)
    assert offline_proxy.input_lines(run) == [
        "N = 50.0 target tokens, the mean answer length of the 3 test answers (max_new_tokens = 50); "
        "τ measured over γ = 3 windows"]
    constants = offline_proxy.constants_table(run)
    assert constants.loc["t_verify(4) (verify γ + 1 positions)", "ms"] == 18.0
    assert set(constants["measured on"]) == {"the mini run"}
    assert offline_proxy.configurations(run)[0] == ("L1+L5F", 1.0, 0.5)
    acceptance = offline_proxy.acceptance_table(run)  # the timing-free inputs the golden checks
    assert acceptance.loc["L3+L5F", "free tokens"] == 3.0 and acceptance.loc["B1-only", "decode α"] == 0.3
    assert acceptance.loc["L5F-only", "τ (free-running, γ = 3)"] == 1.4 and set(acceptance["N"]) == {50.0}
    assert acceptance_free_of_timing(run)
    proxy = offline_proxy.proxy_table(run)
    assert list(proxy.columns) == ["free tokens", "decode α", "proxy (mini)", "seeds"]
    assert proxy.loc["L1+L5F", "proxy (mini)"] == round(run.inputs.proxy(n_tokens=50, free_tokens=1.0,
                                                                         alpha_decode=0.5), 3)
    honest = offline_proxy.honest_table(run)
    assert list(honest.columns) == ["proxy (mini)", "honest, 2 cores", "honest, 1 core", "draft-bound",
                                    "τ (free-running, γ = 3)"]
    b1 = run.inputs.honest(n_tokens=50, free_tokens=0.0, tau=1.4, gamma=3, head="B1", draft_bound=False,
                           phase1=False, free_from_token0=True)
    assert honest.loc["B1-only", "honest, 2 cores"] == round(b1["speedup"], 3)
    lines = offline_proxy.honest_lines(run, honest)
    assert len(lines) == 2 and lines[1].startswith("proxy minus honest model (honest, 2 cores), mean over")


def acceptance_free_of_timing(run) -> bool:
    """The acceptance table is the same whatever the timing constants are."""
    import dataclasses

    other = dataclasses.replace(run, inputs=cost_inputs(_costs(), _stages(draft_decode=99.0)))
    return offline_proxy.acceptance_table(other).equals(offline_proxy.acceptance_table(run))


def test_a_run_fed_by_files_adds_the_variants_and_says_where():
    run = _run(from_file=True)
    lines = offline_proxy.input_lines(run)
    assert lines[1].startswith("timing constants from costs.json, stages.json, measured on Test GPU 9000")
    assert len(lines) == 2  # one place: no caution
    honest = offline_proxy.honest_table(run)
    assert {"proxy (Test GPU 9000)", "honest, concurrent", "honest, sequential", "honest, draft beside",
            "honest, static cache"} <= set(honest.columns)
    assert honest.loc["B1-only", "honest, draft beside"] == honest.loc["B1-only", "honest, concurrent"]  # no draft VLM
    printed = offline_proxy.honest_lines(run, honest)
    assert printed[2].startswith("costs measured on Test GPU 9000; acceptance from the mini world")
    assert printed[3].startswith("honest, draft beside: -") and printed[4].startswith("honest, static cache: ")


def test_constants_from_two_places_carry_a_caution():
    run = _run(from_file=False)
    mixed = cost_inputs(stages=_stages(), fallback_costs=_costs()["costs"], fallback_label="the mini run")
    lines = offline_proxy.input_lines(offline_proxy.OfflineRun(**{**run.__dict__, "inputs": mixed,
                                                                   "files": ("stages.json",)}))
    assert lines[-1].startswith("caution, the constants were measured in more than one place")


def test_the_proxy_reading_counts_the_configurations_faster_than_the_target():
    run = _run(from_file=False)
    reading = offline_proxy.proxy_reading(run, offline_proxy.proxy_table(run))
    assert "(the seeds: 1.31× to 1.56×)" in reading and reading.endswith("faster than decoding with the target alone.")
    same = pd.DataFrame({"proxy (mini)": [0.9, 0.9, 0.9], "seeds": [1.3, 1.4, 1.5]})
    assert "0.900× in every configuration" in offline_proxy.proxy_reading(run, same)
    assert "none of the three configurations are faster" in offline_proxy.proxy_reading(run, same)
    one = pd.DataFrame({"proxy (mini)": [1.2, 0.9, 0.8], "seeds": [1.3, 1.4, 1.5]})
    assert "gives 0.800× to 1.200×" in offline_proxy.proxy_reading(run, one)
    assert "one of the three configurations is faster" in offline_proxy.proxy_reading(run, one)
    at_one = pd.DataFrame({"proxy (mini)": [1.0004, 1.0004], "seeds": [1.3, 1.4]})  # 1.000 at 3 decimals: not faster
    assert "neither configuration is faster" in offline_proxy.proxy_reading(run, at_one)


def test_the_honest_reading_follows_the_terms():
    run = _run(from_file=False, live=0.4)
    terms, verdict = offline_proxy.honest_reading(run, offline_proxy.honest_table(run))
    assert "takes 18.000 ms against 15.000 ms for a decode step: 1.2 times as long as" in terms
    assert "- L5F: the accepted run per round when drafting live (γ = 3) is 0.40, below the teacher-forced 0.50" in terms
    assert "- B1: the accepted run per round when drafting live (γ = 3) is 0.40, above the teacher-forced 0.30" in terms
    assert "waits for the draft VLM" not in terms
    assert verdict.startswith("On balance the proxy is above the honest model (honest, 2 cores) in all six")
    assert verdict.endswith(": it is optimistic here.")
    slow_draft = _run(from_file=False, draft_decode_ms=60.0, live=0.48)
    terms, _ = offline_proxy.honest_reading(slow_draft, offline_proxy.honest_table(slow_draft))
    assert "is 0.48, about the same as the teacher-forced 0.50" in terms
    assert "- In five of the six configurations a round waits for the draft VLM's states" in terms


def test_a_nan_metric_counts_as_zero():
    assert offline_proxy._zero_nan({"a": math.nan, "b": 1.0, "c": "x"}) == {"a": 0.0, "b": 1.0, "c": "x"}
