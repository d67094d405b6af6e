"""The live study's computations (xsd.studies.live_wallclock, live_report, live_predictions,
live_goals) on a small synthetic benchmark: two samples, every kind of method, made up times."""
import json
import math

import pandas as pd
import pytest

from xsd import costmodel
from xsd.studies import live_goals, live_predictions, live_report, live_wallclock
from xsd.studies.call_costs import in_loop_costs, loop_cost, loop_head_cost
from xsd.studies.costs_file import cost_inputs

SAMPLES = ("s0", "s1")
TOKENS = [[5, 6, 7, 8, 9, 2], [5, 6, 7, 2]]  # the target's greedy answers to the two samples


def _loop_run(method, gamma, policy, sample, wall, rounds, free=0, wait=0.0, missing=0, tokens=None):
    """A run of the package's loop: `rounds` as (proposed, accepted); one emitted token more than accepted."""
    index = SAMPLES.index(sample)
    proposed = [p for p, _ in rounds]
    accepted = [a for _, a in rounds]
    verify_each = [0.001 + 0.0002 * p for p in proposed]
    prefill = 0.004 if method in ("ar-loop", "prompt-lookup", "b1") else 0.006
    head = {"b1": "B1", "l5f": "L5F", "two-phase": "L5F"}.get(method)
    stats = {
        "inputs_s": 0.0005, "prefill_s": prefill, "total_s": wall - 0.0005, "draft_s": 0.0002 * sum(proposed) + wait,
        "verify_s": sum(verify_each), "other_s": 0.0001, "target_forwards": len(rounds),
        "emitted_per_round": [a + 1 for a in accepted], "accepted_per_round": accepted,
        "proposed_per_round": proposed, "verify_s_per_round": verify_each, "free_tokens": free,
        "egpt_wait_s": wait, "egpt_missing": missing,
        **({"head": head, "head_s": 0.0003 * sum(proposed), "head_calls": sum(proposed)} if head else {}),
    }
    return {"label": live_wallclock.label(method, gamma, policy), "method": method, "gamma": gamma, "policy": policy,
            "sample": sample, "wall_s": wall, "tokens": tokens if tokens is not None else TOKENS[index], "stats": stats}


def _ar_run(sample, wall):
    stats = {"inputs_s": 0.0005, "prefill_s": 0.005, "total_s": wall - 0.0005}
    return {"label": "ar", "method": "ar", "gamma": None, "policy": None, "sample": sample, "wall_s": wall,
            "tokens": TOKENS[SAMPLES.index(sample)], "stats": stats}


def _runs(wrong_two_phase=False):
    runs = [_ar_run("s0", 0.030), _ar_run("s1", 0.020),
            _loop_run("ar-loop", None, None, "s0", 0.025, [(0, 0)] * 5),
            _loop_run("ar-loop", None, None, "s1", 0.016, [(0, 0)] * 3)]
    for sample, wall in (("s0", 0.020), ("s1", 0.014)):
        runs.append(_loop_run("prompt-lookup", 2, None, sample, wall, [(2, 1), (2, 2), (0, 0)][:2 + (sample == "s0")]))
    for sample, wall in (("s0", 0.024), ("s1", 0.018)):
        runs.append(_loop_run("b1", 2, None, sample, wall, [(2, 0)] * (5 if sample == "s0" else 3)))
    for policy, slower in (("wait", 1.6), ("prefill-only", 1.1)):
        for sample, wall in (("s0", 0.022), ("s1", 0.016)):
            runs.append(_loop_run("l5f", 2, policy, sample, wall * slower, [(2, 1), (2, 1), (2, 0)][:2 + (sample == "s0")],
                                  wait=0.002 if policy == "wait" else 0.0, missing=0 if policy == "wait" else 3))
            wrong = wrong_two_phase and sample == "s1"
            runs.append(_loop_run("two-phase", 2, policy, sample, wall * slower * 0.9,
                                  [(2, 2), (2, 1)][:1 + (sample == "s0")], free=1,
                                  tokens=[5, 6, 7, 3] if wrong else None))
    return runs


def _bench(runs=None, prefill_s=0.005, long=False):
    runs = runs if runs is not None else _runs()
    costs = {"prefill_s": prefill_s, "decode_s": 0.0009, "verify_s": {"1": 0.0009, "2": 0.0011, "3": 0.0012},
             "head_step_s": {"B1": 0.0004, "L5F": 0.0005}, "prompt_tokens": 40}
    costs["in_loop"] = in_loop_costs(runs)
    bench = {"profile": "smoke", "n_samples": 2, "gammas": [2], "policies": ["wait", "prefill-only"],
             "max_new_tokens": 6 if long else 16, "threads": {"target": 1}, "prefill_adapter": "L1",
             "measured_on": {"device": "cpu", "device_name": "x86_64", "dtype": "float32"},
             "costs": costs, "methods": live_wallclock.summarise(runs, costs), "runs": runs}
    return json.loads(json.dumps(bench))  # as a cached read returns it


TIMINGS = {"c": 0.9, "draft": {"prefill_with_vision": 3.0, "decode_per_token": 0.8}}


# -- the summary and what a run says --------------------------------------------------------------

def test_summarise_keeps_each_samples_speedup_over_ar():
    bench = _bench()
    per_sample = bench["methods"]["b1@2"]["per_sample"]
    assert per_sample == [{"sample": "s0", "tokens": 6, "speedup": pytest.approx(0.030 / 0.024)},
                          {"sample": "s1", "tokens": 4, "speedup": pytest.approx(0.020 / 0.018)}]
    spread = bench["methods"]["b1@2"]["speedup_per_sample"]
    assert spread["min"] == pytest.approx(0.020 / 0.018) and spread["max"] == pytest.approx(0.030 / 0.024)
    frame = live_report.per_sample(bench)
    assert len(frame) == len(bench["runs"]) and set(frame.columns) == {"method", "sample", "tokens", "speedup"}


def test_best_variant_by_any_field_and_ties_by_label():
    bench = _bench()
    assert live_wallclock.best_variant(bench, "two-phase") == "two-phase@2 prefill-only"  # the faster policy
    bench["methods"]["l5f@2 wait"]["tau"] = bench["methods"]["l5f@2 prefill-only"]["tau"] = 1.5
    assert live_wallclock.best_variant(bench, "l5f@2 ", by="tau") == "l5f@2 wait"  # a tie: the last label
    with pytest.raises(KeyError, match="no method starting with 'medusa'"):
        live_wallclock.best_variant(bench, "medusa")


def test_prefill_share_and_amdahl():
    bench = _bench(prefill_s=0.00625)  # ar takes 0.025 s per sample on average
    share = live_wallclock.prefill_share(bench)
    assert share == pytest.approx(0.25)
    assert live_wallclock.answer_tokens(bench) == 5.0
    assert live_wallclock.amdahl_bound(share) == pytest.approx(4.0)
    assert live_wallclock.decode_speedup_needed(share, 1.5) == pytest.approx(0.75 / (1 / 1.5 - 0.25))
    assert live_wallclock.decode_speedup_needed(share, 4.0) == math.inf  # 1/S = p: out of reach
    lines = live_goals.amdahl_lines(bench, None)
    assert lines[0].startswith("every question type: ar makes 5.0 tokens per answer") and "25%" in lines[0]
    assert "1.5× needs a decode-phase speedup of 1.80×" in lines[1] and "2.0× needs a decode-phase speedup of 3.00×" in lines[2]
    assert "no decoder can exceed 4.00× overall" in lines[3]


# -- sections 1 to 4 ------------------------------------------------------------------------------

def test_method_table_has_a_row_per_method_and_blanks_where_nothing_was_measured():
    bench = _bench()
    table = live_report.method_table(bench)
    assert list(table.index) == list(bench["methods"])
    assert table.loc["b1@2", "speedup vs ar"] == round(0.050 / 0.042, 3)
    assert pd.isna(table.loc["ar", "τ"]) and table.loc["ar-loop", "τ"] == 1.0
    assert table.loc["two-phase@2 wait", "free tokens (phase 1)"] == 1.0


def test_exact_match_reading_names_a_method_that_is_not_lossless():
    assert live_report.exact_match_reading(_bench()).endswith("samples.")
    text = live_report.exact_match_reading(_bench(_runs(wrong_two_phase=True)))
    assert "two-phase@2 wait on 50% of them" in text and "must not do" in text


def test_timing_free_table_keeps_the_methods_no_timing_moves_and_the_reading_names_a_method_without_accepted_drafts():
    bench = _bench()
    table = live_report.timing_free_table(bench)
    assert list(table.index) == ["ar", "ar-loop", "prompt-lookup@2", "b1@2", "l5f@2 wait"]
    assert table.loc["prompt-lookup@2", "tokens"] == sum(len(t) for t in TOKENS)
    assert table.loc["l5f@2 wait", "τ"] == round(bench["methods"]["l5f@2 wait"]["tau"], 3) > 1
    assert table.loc["b1@2", "draft 1 accepted"] == 0.0 and pd.isna(table.loc["ar", "τ"])
    text = live_report.verified_drafts_reading(bench)
    assert "b1@2 had none accepted" in text and "five of the six drafting methods" in text


def test_phases_slowdowns_and_acceptance():
    bench = _bench()
    phases = live_report.phase_table(bench)
    assert list(phases.columns) == ["prefill", "draft", "verify", "other"] and "ar" not in phases.index
    assert phases.loc["b1@2", "prefill"] == pytest.approx(4.0)  # ms per sample
    slowdown = live_report.slowdown_table(bench)
    assert list(slowdown.columns) == ["target prefill slowdown", "target verify slowdown"]
    text = live_report.slowdown_reading(bench)
    assert "with no draft process" in text and "throughout" in text and "mean slowdown is" in text
    acceptance = live_report.acceptance_by_position(bench)
    assert acceptance["b1@2"][0] == 0.0 and math.isnan(acceptance["b1@2"][1])  # no round reached position 2
    assert live_report.acceptance_table(bench).shape[1] == 2


def test_policy_table_and_reading():
    bench = _bench()
    table = live_report.policy_table(bench)
    assert list(table.index) == ["l5f@2", "two-phase@2"]
    text = live_report.policy_reading(bench, TIMINGS)
    assert "Under `wait`, the head waited for the draft VLM in one of the two methods, 2.0 to 2.0 ms" in text
    assert "`prefill-only` for both methods" in text  # the faster policy in this run
    bench["methods"] = {k: m for k, m in bench["methods"].items() if not m.get("policy")}
    assert live_report.policy_reading(bench, TIMINGS) == "" and len(live_report.policy_table(bench)) == 0


# -- the cost models beside the live run ----------------------------------------------------------

def test_proxy_table_is_the_models_fed_with_the_runs_loop_costs():
    bench = _bench()
    table = live_predictions.proxy_table(bench, TIMINGS)
    assert "prompt-lookup@2" not in table.index and "ar-loop" not in table.index
    m, costs = bench["methods"]["b1@2"], bench["costs"]
    n_tokens = live_wallclock.answer_tokens(bench)
    verify = loop_cost(costs, "3")
    # b1 has no phase 1: no phase-1 verify, the prefill's token 0 and then N − 1 tokens in rounds
    honest = costmodel.honest_two_phase(
        n_tokens=n_tokens, free_tokens=0.0, tau=m["tau"], gamma=2, t_vl_prefill=costs["prefill_s"],
        t_vl_decode=loop_cost(costs, "1"), t_verify_phase1=0.0, t_verify=verify, free_from_token0=True,
        t_head=loop_head_cost(costs, "B1"), t_egpt_prefill=0.003, t_egpt_decode=0.0)
    assert table.loc["b1@2", "honest model"] == round(honest["speedup"], 2)
    assert honest["rounds"] == pytest.approx((n_tokens - 1) / m["tau"])
    assert table.loc["b1@2", "live vs ar-loop"] == round(0.041 / 0.042, 2)
    assert "off it by" in live_predictions.proxy_reading(table)


def test_decode_time_table_sets_the_honest_models_decode_phase_beside_the_live_one():
    bench = _bench()
    table = live_predictions.decode_time_table(bench, TIMINGS)
    assert list(table.index)[0] == "ar-loop" and "prompt-lookup@2" not in table.index
    costs, m = bench["costs"], bench["methods"]["l5f@2 wait"]
    inputs = cost_inputs(fallback_costs=costs, fallback_stages=TIMINGS, in_loop=True)
    model = inputs.honest(n_tokens=5.0, free_tokens=0.0, tau=m["tau"], gamma=2, head="L5F", draft_bound=True,
                          phase1=False)  # l5f alone: no phase 1
    row = table.loc["l5f@2 wait"]
    assert row["model ms / sample"] == pytest.approx(model["decode_sd"] * 1000)
    assert row["live ms / sample"] == pytest.approx(m["decode_phase_s"] / 2 * 1000)
    assert row["gap ms / sample"] == pytest.approx(row["live ms / sample"] - row["model ms / sample"])
    assert row["draft VLM beside"] == "throughout"
    baseline = table.loc["ar-loop"]
    assert baseline["model ms / sample"] == pytest.approx((5.0 - 1) * loop_cost(costs, "1") * 1000)  # N − 1 steps
    assert table.loc["two-phase@2 wait", "free tokens"] == 1.0


def test_decode_time_reading_names_the_method_furthest_off():
    table = pd.DataFrame({
        "model ms / sample": [10.0, 20.0, 20.0, 30.0], "live ms / sample": [11.0, 22.0, 50.0, 25.0],
        "draft VLM beside": ["none", "none", "throughout", "prefill only"]},
        index=pd.Index(["ar-loop", "b1@2", "l5f@2 wait", "l5f@2 prefill-only"], name="method"))
    table["gap ms / sample"] = table["live ms / sample"] - table["model ms / sample"]
    text = live_predictions.decode_time_reading(table)
    assert "shorter decode phase than the live one for two of the three methods" in text
    assert "furthest off for l5f@2 wait: 20.00 ms predicted against 50.00 ms live, 30.00 ms short" in text
    assert "2.5 times as long as predicted" in text
    assert "`ar-loop`, the model's N − 1 decode steps come to 10.00 ms against 11.00 ms live (+1.00 ms" in text
    assert "+2.00 ms with no draft process, +30.00 ms with the draft VLM decoding" in text
    assert "-5.00 ms with the draft VLM stopped after the prefill" in text
    over = table.drop(index=["l5f@2 wait"])
    assert "furthest off for l5f@2 prefill-only: 30.00 ms predicted against 25.00 ms live, 5.00 ms too long" in \
        live_predictions.decode_time_reading(over)
    assert live_predictions.decode_time_reading(table.loc[["ar-loop"]]) == ""


def test_costs_file_report_uses_the_files_constants():
    from test_costs_file import _costs

    bench = _bench()
    report = live_predictions.costs_file_report(bench, TIMINGS, _costs(), None)
    table = report["table"]
    assert report["device"] == "Test GPU 9000"
    assert list(table.columns) == ["τ (smoke)", "Test GPU 9000: alone", "Test GPU 9000: draft beside",
                                   "Test GPU 9000: static cache", "smoke costs (model)", "smoke, live"]
    # b1 runs no draft VLM: beside or not, the same prediction; L5F's verify forwards are slower beside it
    assert table.loc["b1@2", "Test GPU 9000: alone"] == table.loc["b1@2", "Test GPU 9000: draft beside"]
    assert table.loc["l5f@2 wait", "Test GPU 9000: draft beside"] < table.loc["l5f@2 wait", "Test GPU 9000: alone"]
    assert report["lines"][0].startswith("costs measured on Test GPU 9000")
    assert any(line.startswith("the model with this run's own costs is") for line in report["lines"])


# -- sections 6 and 7, and the closing reading ----------------------------------------------------

def test_long_answer_run_lines_table_reading_and_points():
    bench, long = _bench(), _bench(long=True)
    for m in long["methods"].values():
        m["speedup_vs_ar"] *= 1.1
    lines = live_goals.length_lines(bench, long)
    assert lines[1].startswith("describe only: 2 samples, 5.0 target tokens per answer")
    assert list(live_goals.length_table(bench, long).columns)[:2] == ["speedup, every type", "speedup, descriptions"]
    text = live_goals.length_reading(bench, long)
    assert "shorter than the study's 50-token window" in text and "(the run stops at 6 new tokens)" not in text
    assert "Of the 6 drafting methods, 6 reach a higher speedup" in text
    points = live_goals.length_points(bench, long)
    assert list(points) == ["prompt-lookup@2", "b1@2", "l5f@2 prefill-only", "two-phase@2 prefill-only"]
    assert len(points["b1@2"]) == 4  # two samples in each run


def test_goal_lines_name_the_best_variants():
    bench = _bench()
    lines = live_goals.goal_lines(bench, bench)
    assert lines[0].startswith("best two-phase: two-phase@2 prefill-only at") and "misses the 1.5× goal" in lines[0]
    assert lines[1].startswith("ahead of b1 (b1@2,")
    assert any(line.startswith("γ = 2: τ of b1") for line in lines)
    assert lines[-1].startswith("on descriptions only: best two-phase") and lines[-1].endswith("every method")


def test_exactness_verdict():
    assert "every method, however good or bad its drafts" in live_goals.exactness_verdict(_bench(), None)
    wrong = live_goals.exactness_verdict(_bench(), _bench(_runs(wrong_two_phase=True)))
    assert "two of the 16 method runs did not" in wrong and "bug" in wrong
    assert "two-phase@2 wait in the long-answer run (50%) and two-phase@2 prefill-only in the long-answer" in wrong
