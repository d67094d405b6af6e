"""The tables, lines and readings behind the world-and-models, feature-adapters and token-level
notebooks (xsd.studies.world_data, world_models, world_timing, feature_adapters, feature_reading,
training_memory, token_reading): fed small hand-made results, each branch of a sentence checked
by the words it must choose."""
import dataclasses
import json
import math

import pandas as pd
import pytest

from xsd import seeds
from xsd.config import load_profile
from xsd.studies import (feature_adapters, feature_reading, token_reading, training_memory, world_data,
                         world_models, world_timing)


@pytest.fixture(scope="module")
def smoke():
    return load_profile("smoke")


# -- the world ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke_world(tmp_path_factory, smoke):
    """The smoke world built in a private data root (a few seconds); XSD_DATA_ROOT points there."""
    root = tmp_path_factory.mktemp("world-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XSD_DATA_ROOT", str(root))
        world_data.world_root(smoke)
        yield smoke


def test_world_overview_counts_samples_and_sizes(smoke_world):
    world = world_data.world_overview(smoke_world)
    assert world["sequences"] == smoke_world.world.n_sequences
    assert world["samples"] == world["train"] + world["test"] > 0
    assert 0 <= world["both_modalities_share"] <= 1
    assert world["size_mb"]["total"] == pytest.approx(sum(v for k, v in world["size_mb"].items() if k != "total"),
                                                      abs=0.1 * len(world["size_mb"]))


def test_example_clip_names_its_lighting_and_agents(smoke_world):
    clip = world_data.example_clip(smoke_world, "day")
    assert clip["title"].startswith(f"{clip['seq']}/{clip['clip']}: day; ")
    assert len(clip["rgb"]) == 8 and len(clip["events"]) == 5


def test_event_tables_and_questions(smoke_world):
    rates = world_data.event_rates(smoke_world)
    assert {"clips", "mean", "noise_share"} <= set(rates.columns)
    per_class = world_data.events_by_class(smoke_world)
    assert list(per_class.columns) == ["events", "events_slice0", "share visible to events"]
    assert per_class["share visible to events"].between(0, 1).all()
    questions = world_data.example_questions(smoke_world)
    assert questions["type"].tolist() == list(world_data.EXAMPLE_QTYPES)


def rates(day_mean, night_mean, day_noise, night_noise):
    return pd.DataFrame({"day": {"mean": day_mean, "noise_share": day_noise},
                         "night": {"mean": night_mean, "noise_share": night_noise}}).T


def test_event_rate_reading_says_when_noise_makes_most_night_events():
    text = world_data.event_rate_reading(rates(1000.0, 2000.0, 0.1, 0.6))
    assert text.startswith("Night clips carry 2000 events per second against 1000 by day (2.0 times as many)")
    assert text.endswith("of a day clip's: most of the night's events are noise.")


def test_event_rate_reading_without_majority_noise_or_noise_counts():
    assert "most of" not in world_data.event_rate_reading(rates(1000.0, 1050.0, 0.1, 0.4))
    assert "about as many" in world_data.event_rate_reading(rates(1000.0, 1050.0, 0.1, 0.4))
    text = world_data.event_rate_reading(rates(1000.0, 500.0, None, None))
    assert text == "Night clips carry 500 events per second against 1000 by day (0.50 times as many)."


def test_event_rate_reading_needs_day_and_night():
    assert world_data.event_rate_reading(pd.DataFrame({"dusk": {"mean": 1.0, "noise_share": 0.1}}).T) == ""


# -- the models ---------------------------------------------------------------------------------------

def accuracy(draft_mean, target_mean):
    return {"draft": {"per_qtype": {"count": {"accuracy": 0.5, "n": 2}}, "mean": draft_mean, "n": 2},
            "target": {"per_qtype": {"count": {"accuracy": 0.25, "n": 4}, "colour": {"accuracy": 1.0, "n": 1}},
                       "mean": target_mean, "n": 5}}


def test_accuracy_table_has_a_row_per_type_and_the_mean():
    table = world_models.accuracy_table(accuracy(0.5, 0.4))
    assert table.loc["count"].tolist() == [0.5, 0.25]
    assert math.isnan(table.loc["colour", "draft"])
    assert table.loc["mean (all graded answers)"].tolist() == [0.5, 0.4]


def test_accuracy_verdicts_and_trust_follow_the_goals():
    lines = world_models.accuracy_verdicts(accuracy(0.72, 0.6))
    assert lines[0].startswith("draft: 72.0% mean key-fact accuracy over 2 answers (95% interval ")
    assert lines[0].endswith(" — meets the goal of 70% (aim: 75%)")
    assert lines[1] == "target: 60.0% mean key-fact accuracy over 5 answers (95% interval 23.1%–88.2%) — " \
                       "below, though within the interval of the goal of 80% (aim: 85%)"  # 5 answers: wide
    many = {side: {**result, "n": 400} for side, result in accuracy(0.8, 0.5).items()}
    assert world_models.accuracy_verdicts(many)[1].endswith(
        "(95% interval 45.1%–54.9%) — below the goal of 80% (aim: 85%)")
    assert world_models.accuracy_trust(accuracy(0.7, 0.8)) == "Both models meet their accuracy goals."
    one = world_models.accuracy_trust(accuracy(0.8, 0.5))
    assert one.startswith("Below its accuracy goal: the target (50%, goal 80%)") and "that model" in one
    both = world_models.accuracy_trust(accuracy(0.1, 0.5))
    assert both.startswith("Below their accuracy goal: the draft (10%, goal 70%) and the target") and "these models" in both


def report(wall_seconds):
    side = {"tower": {"seconds": 5.0, "test_accuracy": {"class": 0.5, "x": 0.25}}, "features": {"seconds": 0.1},
            "tune": {"seconds": 20.0, "steps": 400, "final_loss": 0.2}, "peak_rss_mb": 400.0}
    return {"wall_seconds": wall_seconds, "jobs": 2, "threads_per_job": 1, "sides": {"draft": side, "target": side}}


def test_training_summary_within_over_and_pretrained(smoke):
    mini = dataclasses.replace(smoke, name="mini")
    assert world_models.training_summary(mini, report(60)) == \
        "both models: 1.0 min wall (within the 20-minute budget), 2 processes × 1 thread"
    assert "(over the 20-minute budget)" in world_models.training_summary(mini, report(21 * 60))
    # the budget is mini's: a longer profile's summary states its time without a verdict
    assert world_models.training_summary(smoke, report(49 * 60)) == "both models: 49.0 min wall, 2 processes × 1 thread"
    assert world_models.training_summary(smoke, None) == "profile smoke: pretrained models, nothing trained here"


def test_describe_order_table_and_lines():
    order = {"draft": [{"road_user": 1, "named": 0.25, "n": 8}],
             "target": [{"road_user": 1, "named": 0.5, "n": 10}, {"road_user": 2, "named": 0.2, "n": 5}]}
    accuracy = {side: {"describe_order": rows} for side, rows in order.items()}
    table = world_models.describe_order_table(accuracy)
    assert table.loc[2, ("target", "named")] == 0.2 and table.loc[1, ("draft", "n")] == 8
    report = {"sides": {"target": {"tower": {"test_accuracy": {"class": 0.69, "occupied": 0.97}}},
                        "draft": {"tower": {"test_accuracy": {"class": 0.84}}}}}   # scored before 'occupied'
    lines = world_models.describe_order_lines(accuracy, report)
    assert lines[1] == ("- The target names the nearest road user's class first in 50% of its 10 descriptions "
                        "with one in view; its tower tells a road user's class at 0.69 (mean over the lanes).")
    assert "tower" not in lines[0]
    assert world_models.describe_order_lines({"draft": {"describe_order": []}, "target": accuracy["target"]},
                                             None)[0] == "- The draft: no graded description with a road user in view."


def test_tower_gap_names_the_types_read_below_what_the_tower_tells_apart():
    per_qtype = {"colour": 0.5, "position": 0.9, "direction": 0.3, "describe": 0.1}
    accuracy = {"target": {"per_qtype": {q: {"accuracy": a, "n": 40} for q, a in per_qtype.items()}}}
    report = {"sides": {"target": {"tower": {"test_accuracy": {"attr": 0.92, "x": 0.93, "motion": 0.9}}}}}
    joint = {"class+attr": 0.8, "class+x": 0.85, "class+motion": 0.72}
    classes = {"target": {"joint": joint}}
    table = world_models.tower_gap_table(accuracy, report, classes)
    assert table.index.tolist() == ["colour", "position", "direction"]      # describe: no deciding quantity
    assert table.loc["direction", "quantity"] == "class+motion" and table.loc["colour", "tower"] == 0.8
    assert world_models.tower_gap_line(accuracy, report, classes) == (
        "1 of 3 question types is below 60% key-fact accuracy although the target's tower tells the deciding "
        "quantity apart above 0.75: colour (50%; tower class+attr 0.80).")   # direction: 0.72, not above
    joint["class+motion"] = 0.8
    assert world_models.tower_gap_line(accuracy, report, classes).startswith("2 of 3 question types are below")
    joint["class+attr"] = 0.7     # the colour alone (0.92) does not count when the class is missed
    assert world_models.tower_gap_line(accuracy, report, classes).startswith("1 of 3 question types is below")
    per_qtype.update(colour=0.6, direction=0.6)
    accuracy["target"]["per_qtype"] = {q: {"accuracy": a, "n": 40} for q, a in per_qtype.items()}
    assert world_models.tower_gap_line(accuracy, report, classes).startswith("No question type is below 60%")


def tower_classes_result(side):
    """What xsd.studies.tower_classes measures, for one side (road users: 10 cars, 4 pedestrians)."""
    names = ["empty", "car", "truck", "bus", "pedestrian", "cyclist"]
    confusion = {name: dict.fromkeys(names, 0) for name in names[1:]}
    confusion["car"].update(car=9, truck=1)
    confusion["pedestrian"].update(pedestrian=1, empty=3)
    evidence = ({"5-19 events": {"right": 0, "road_users": 3}, "20-79 events": {"right": 10, "road_users": 11}}
                if side == "draft" else {"day": {"right": 10, "road_users": 14}, "night": {"right": 0, "road_users": 0}})
    return {"evidence": "events in the frame's slice" if side == "draft" else "lighting",
            "confusion": confusion, "by_evidence": evidence, "joint": {"class+attr": 0.5}}


def test_class_confusion_evidence_and_lines():
    classes = {side: tower_classes_result(side) for side in ("draft", "target")}
    table = world_models.class_confusion_table(classes, "draft")
    assert table.loc["car", "truck"] == 0.1 and table.loc["pedestrian", "empty"] == 0.75
    assert table.loc["car", "road users"] == 10
    evidence = world_models.evidence_table(classes)
    assert evidence.loc[("draft", "5-19 events"), "class right"] == 0
    assert evidence.loc[("target", "day"), "road users"] == 14
    assert math.isnan(evidence.loc[("target", "night"), "class right"])       # none shown: a gap, not 0
    lines = world_models.tower_class_lines(classes)
    assert lines[0] == ("- The event tower (the draft's) tells a road user's class, by events in the frame's slice: "
                        "5-19 events 0% of 3 and 20-79 events 91% of 11. Its most frequent mistake takes a "
                        "pedestrian for an empty lane (3 of 4).")
    assert lines[1].startswith("- The video tower (the target's) tells a road user's class, by lighting: day 71% of 14.")


def test_training_and_tower_tables():
    table = world_models.training_table(report(60))
    assert table.index.tolist() == ["tower (s)", "features (s)", "tuning (s)", "tuning steps", "final tuning loss",
                                    "peak memory (MB)"]
    assert table.loc["tuning steps", "target"] == 400
    tower = world_models.tower_table(report(60), {side: {"joint": {"class+x": 0.2}} for side in ("draft", "target")})
    assert tower.loc["x", "draft"] == 0.25 and tower.loc["class+x", "target"] == 0.2
    with_stages = report(60)
    with_stages["sides"] = {side: dict(r, base_llm_seconds=7.0, align={"seconds": 3.0, "steps": 5})
                            for side, r in with_stages["sides"].items()}
    table = world_models.training_table(with_stages)
    assert table.loc["base LLM, trained or awaited (s)", "draft"] == 7.0 and table.loc["alignment (s)", "target"] == 3.0
    assert table.index.tolist().index("alignment (s)") < table.index.tolist().index("tuning (s)")


def choice(draft_gaps, target_gaps=None, n=4):
    """Fact-choice results with the given train − test gap per question type (test accuracy 0.5)."""
    def side(gaps):
        return {"train": {q: {"accuracy": 0.5 + g, "n": n, "chance": 0.2} for q, g in gaps.items()},
                "test": {q: {"accuracy": 0.5, "n": n, "chance": 0.2} for q in gaps}}
    return {"draft": side(draft_gaps), "target": side(target_gaps or {})}


def test_fact_choice_table_and_gap_lines():
    found = choice({"direction": 0.25, "position": 0.0}, {"colour": -0.5})
    table = world_models.fact_choice_table(found)
    assert table.index.tolist() == [("draft", "direction"), ("draft", "position"), ("target", "colour")]
    assert table.loc[("draft", "direction")].tolist() == [0.75, 0.5, 0.2, 4]
    assert world_models.fact_choice_gap_lines(found) == [
        "draft: train minus test, per question type: direction +0.25, position +0.00",
        "target: train minus test, per question type: colour -0.50"]


@pytest.mark.parametrize("gaps, words", [
    ({"a": 0.05, "b": -0.1}, "about as well on unseen clips as on its training clips in every question type"),
    ({"a": 0.5, "b": 0.0}, "better on the clips it was tuned on (a; one of the two question types)"),
    ({"a": -0.5, "b": -0.2}, "better on unseen clips than on its training clips (a and b; both question types)"),
    ({"a": 0.5, "b": -0.5}, "better on its training clips for a and better on unseen clips for b: no single pattern"),
])
def test_choice_pattern_by_the_gaps(gaps, words):
    assert words in world_models.choice_pattern(gaps)


def test_fact_choice_reading_skips_a_model_without_choices_and_cautions_on_few_questions():
    title, lines, caution = world_models.fact_choice_reading(choice({"direction": 0.5}, n=2))
    assert title == "**Reading the fact choice.**"
    assert lines.startswith("- The draft chooses better on the clips it was tuned on") and "target" not in lines
    assert lines.endswith("on the test clips it is above chance in the one question type.")
    assert caution.startswith("With as few as 2 test questions for a type, one answer moves its accuracy by 0.50")
    assert world_models.fact_choice_reading(choice({"direction": 0.5}, n=20))[2] == ""


# -- where the time goes ----------------------------------------------------------------------------

def timings(c=0.925, with_vision=1.4):
    side = {"vision": 0.7, "projector": 0.1, "prefill": 1.7, "decode_per_token": 0.94, "visual_tokens": 18}
    frames = {"1_frames": {"prefill_with_vision": 2.8, "visual_tokens": 17}}
    return {"c": c, "prefill_ratio": 1.45, "prefill_ratio_with_vision": with_vision, "draft": side, "target": side,
            "frames": {"target": frames, "draft": frames}}


def test_stage_table_sets_the_seeds_beside_the_measured(smoke):
    table = world_timing.stage_table(timings(), smoke)
    assert table["stage"].tolist() == ["vision", "projector", "LLM prefill", "decode per token"]
    assert table["draft (smoke, ms)"].tolist() == [0.7, 0.1, 1.7, 0.94]
    assert table["target (seeds, ms)"].tolist() == [seeds.STAGE_TIMING[k]["target"]
                                                   for k in ("vision", "projector", "prefill", "decode_per_token")]


def test_timing_lines_carry_the_seeds_ratios():
    lines = world_timing.timing_lines(timings())
    assert lines[0] == "c = decode_draft / decode_target = 0.925 (seeds: 14/15 = 0.93)"
    assert lines[1].endswith("(seeds: 470/97 = 4.8×)")
    assert lines[3] == "target, vision + prefill: 1 frames 2.8 ms (17 tokens)"


def test_timing_reading_head_start_or_none(smoke):
    none = world_timing.timing_reading(timings(with_vision=1.05), smoke)
    assert "close to 1" in none and "about as long as the draft's, so the draft has no head start" in none
    assert "Both LLMs have 2 layers of width 64." in none and "in the study 4.8×" in none
    some = world_timing.timing_reading(timings(c=0.5, with_vision=3.0), smoke)
    assert "3.0 times as long, " not in some and "3.0 times as long as the draft's (3.00×" in some
    assert "no head start" not in some and "the draft is faster per token" in some


# -- feature adapters ---------------------------------------------------------------------------------

def adapter(name, params=1000, top1=0.2, free=4.0, shifted=0.3, accept=0.5, tf_first=0.5, fr_first=0.5,
            tf_rounds=0.5, fr_rounds=0.5):
    return {"adapter": name, "params": params, "epochs": 3, "train_samples_per_s": 100.0, "slots": 7,
            "same_pos_top1": top1, "prefill_free_tokens": free, "shifted_top1": shifted, "accept@0.90": accept,
            "teacher_forced_first_window": tf_first, "free_running_first_window": fr_first,
            "teacher_forced_rounds": tf_rounds, "free_running_rounds": fr_rounds}


def results(**changes):
    """One result per adapter; `changes` maps an adapter to the fields it changes."""
    params = {"L1": 700, "L2": 2200, "L3": 2400, "L4": 25000, "L5": 26000, "B1": 26000, "L5F": 42000}
    return [adapter(n, **{"params": p, **changes.get(n, {})}) for n, p in params.items()]


def test_head_lines_set_each_head_beside_the_seeds():
    lines = feature_adapters.head_lines(results(B1={"tf_rounds": 0.6}, L2={"free": 5.0}))
    assert lines[1] == ("B1: per round TF 0.600 vs FR 0.500 (TF − FR = +0.100 drafts per round); first window "
                        "TF 0.500, FR 0.500; seeds' α 0.51")
    assert lines[3] == "most prefill free tokens: L2 (5.00 of 7); seeds: L3 (4.85 of 7)"
    assert lines[4].endswith("(seeds: 0.662 vs 0.612)")


def test_storage_and_training_speed():
    assert feature_adapters.seeds_storage_line() == (
        "seeds: 1.6 MB per sample (H = 4096, 50 tokens, both streams); half precision at that shape is 0.82 MB")
    table = feature_adapters.training_speed_table(results())
    assert table.columns.tolist() == ["params", "epochs", "train samples/s"] and table.loc["L5F", "params"] == 42000


def test_extraction_table_reads_the_reports_in_kilobytes(tmp_path, monkeypatch, smoke):
    from xsd.extract import REPORT
    from xsd.locations import Locations

    monkeypatch.setenv("XSD_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "cache"))
    for split, shard in (("train", "1/2"), ("test", "0/1")):
        folder = Locations(smoke).store(split)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / REPORT).write_text(json.dumps({"samples": 4, "failed": 0, "samples_per_s_this_run": 2.0,
                                                 "bytes_per_sample": 4200, "threads": 1, "batch_size": 8,
                                                 "shard": shard}))
    table = feature_adapters.extraction_table(smoke)
    assert table.loc["test", "kB per sample"] == 4.2 and "bytes_per_sample" not in table.columns
    assert table["processes"].tolist() == [2, 1]  # the rate is one process's, of that many


def test_memory_growth_line():
    table = pd.DataFrame({"peak_rss_mb": [490.0, 512.4], "store_mb": [0.1, 40.6]}, index=[2, 8])
    assert training_memory.memory_growth_line(table) == \
        "peak RSS grows by 22 MB while the store grows by 40 MB (half precision on disk)"


def test_memory_table_indexes_the_benchmark_by_shards(monkeypatch, smoke):
    monkeypatch.setattr(training_memory, "memory_benchmark",
                        lambda profile, name, shards: [{"adapter": name, "shards": s, "peak_rss_mb": 1.0}
                                                       for s in (shards, 4 * shards)])
    assert training_memory.memory_table(smoke, shards=3).index.tolist() == [3, 12]


def test_reading_level_everywhere():
    text = feature_reading.reading(results(), "test world")
    assert text.count("\n- ") == 4
    assert "In the test world neither width nor context lifts top-1 beyond ±0.01." in text
    assert "Here the target's own states predict its next state no better than the draft's" in text
    assert "the two heads are level within ±0.02 drafts" in text
    assert "**Teacher-forced and free-running scores agree within ±0.02 drafts.**" in text
    assert "are identical, as they must be" in text


def test_reading_width_and_context():
    both = feature_reading.width_and_context(
        {r["adapter"]: r for r in results(L3={"top1": 0.3}, L4={"top1": 0.4})}, "w")
    assert "both width and context lift top-1" in both
    context = feature_reading.width_and_context({r["adapter"]: r for r in results(L4={"top1": 0.4})}, "w")
    assert "context buys more than width" in context and "2.0 times as high as L1's" in context
    width = feature_reading.width_and_context({r["adapter"]: r for r in results(L3={"top1": 0.3},
                                                                                L4={"top1": 0.1})}, "w")
    assert "width lifts top-1 and L4's context adds nothing beyond it; it is behind." in width


def test_reading_against_the_seeds_names_the_paradox():
    at_seeds = {n: {"free": s["free_tokens"]} for n, s in feature_reading.SEED_POSITION.items()}
    text = feature_reading.against_seeds({r["adapter"]: r for r in results(
        **{**at_seeds, "L1": {"top1": 0.5, "free": 1.0}})})
    assert "above the seeds' for one of the four adapters (L1) and below the seeds' for three of the four" in text
    assert "fewer than the seeds' for one of the four adapters (L1) and within ±0.1 of the seeds' for three" in text
    assert "For L1 the rate is higher yet the run of matches" in text


def test_reading_b1_ahead_of_l5_and_above_the_seeds():
    text = feature_reading.b1_against_l5({r["adapter"]: r for r in results(B1={"shifted": 0.6},
                                                                           L5F={"shifted": 0.5})})
    assert "B1 is ahead of L5, 2.0 times as high as L5's" in text and "as in the seeds" in text
    assert "L5F's 0.500 is above the seeds' 0.362" in text and "put to the test by the world's answers" in text


def test_reading_l5f_first_window_edge_only():
    text = feature_reading.l5f_against_b1({r["adapter"]: r for r in results(L5F={"fr_first": 0.6, "fr_rounds": 0.4})})
    assert "ahead of B1 on the free-running first window (0.600 vs 0.500)" in text
    assert "behind B1 on free-running drafts per round (0.400 vs 0.500)" in text
    assert "B1 is ahead of L5F." in text and "A possible reading, not tested here" in text


def test_reading_teacher_forcing_overstates_and_a_broken_l5_is_flagged():
    text = feature_reading.teacher_forced_against_free_running({r["adapter"]: r for r in results(
        B1={"tf_first": 1.0, "fr_first": 0.5, "tf_rounds": 0.9}, L5F={"fr_first": 0.6},
        L5={"fr_rounds": 0.4})})
    assert text.startswith("**Teacher-forced scores overstate drafting for B1.**")
    assert "B1 loses 50% of its first-window streak (1.000 → 0.500)" in text
    assert "per round its gap, +0.400 drafts, is smaller than the first window's" in text
    assert "L5F gains on its first window (0.500 → 0.600)" in text
    assert "points to a bug in the evaluation" in text


# -- token level ---------------------------------------------------------------------------------------

def study(raw_test=0.1, top1=0.3, top5=0.6):
    raw = {"positions": 100, "acceptance": raw_test, "run_from_start": 1.0}
    return {"raw": {"train": {**raw, "acceptance": 0.12}, "test": raw},
            "token_adapter": {"test": {"top1": top1, "top5": top5, "top1_run_from_start": 0.5},
                              "params": 52544, "epochs": 3, "best_epoch": 2}}


def test_token_tables_set_the_seeds_beside():
    raw = token_reading.raw_table(study(), "w")
    assert raw.loc["test", "acceptance (w)"] == 0.1 and raw.loc["test", "seeds: acceptance"] == 0.0158
    table = token_reading.adapter_table(study(), "w")
    assert table.loc["epochs (best)"].tolist() == ["3 (2)", "11 (2)"]
    assert table.loc["parameters (M)", "w"] == pytest.approx(0.052544)
    decode = token_reading.decode_table(timings(), "w")
    assert decode.loc["c = T_draft / T_target"].tolist() == [0.925, 0.93]
    assert token_reading.seeds_benchmark_line() == "seeds, benchmark run: 1.24%"


def test_sd_table_and_break_even_lines():
    table = token_reading.sd_table(study(), 0.5, [1, 3], "w")
    assert table.index.tolist() == ["raw draft tokens (w)", "TokenAdapter top-1 (w)",
                                    "TokenAdapter top-5 (w, unreachable bound)", "seeds: TokenAdapter top-1"]
    lines = token_reading.break_even_lines(study(), 1.2, [1, 3], "w")
    assert lines[0] == "seeds: α = 0.279, γ = 5, c = 0.93 -> speedup 0.24× (slower than decoding with the target alone)"
    assert lines[1:3] == ["measured c = 1.200, γ = 1: break-even needs more than α = 1 (never)",
                          "measured c = 1.200, γ = 3: break-even needs more than α = 1 (never)"]
    assert lines[3].startswith("TokenAdapter top-1 drafts at their best γ = 1:") and lines[3].endswith("alone")


def test_acceptance_reading_templates_and_lift():
    text = token_reading.acceptance_reading(study(raw_test=0.1, top1=0.004))
    assert "6.3 times as high. The world's answers are short" in text
    assert "0.04 times the raw rate (the seeds' adapter: 17.7 times)" in text
    better = token_reading.acceptance_reading(study(raw_test=0.016, top1=0.5, top5=0.9))
    assert "The world's answers" not in better and "look *better* here" in better
    zero = token_reading.acceptance_reading(study(raw_test=0.0, top1=0.1))
    assert "above a raw rate of zero" in zero


def test_verdict_reading_loses_or_wins():
    loses = token_reading.verdict_reading(study(top1=0.005, top5=0.02), 0.925, [1, 3, 5], "w")
    assert "below the bar at every γ" in loses and "The seeds' conclusion holds on this profile" in loses
    wins = token_reading.verdict_reading(study(top1=0.9, top5=0.95), 0.1, [1, 3], "w")
    assert "reaches the bar at γ = 1 and 3" in wins and "Unlike in the seeds" in wins
    never = token_reading.verdict_reading(study(top1=0.3, top5=0.6), 1.2, [1], "w")
    assert "No acceptance rate breaks even at γ = 1" in never


def test_break_even_phrase_near_even_bound():
    text = token_reading.verdict_reading(study(top1=0.1, top5=0.52), 0.5, [1], "w")
    assert "(within 5 % of break-even)" in text  # top-5 at γ = 1, c = 0.5: 1.52 / 1.5 ≈ 1.013
