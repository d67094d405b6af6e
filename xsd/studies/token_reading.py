"""The token-level study as its notebook shows it: the tables that set the measured rates
(`xsd.studies.token_level.token_level_study`) and the measured c (`xsd.studies.stage_timings`)
beside the seeds' figures, what classic speculative decoding makes of those rates, and the
reading, each comparison worded by `xsd.readings`.

`study` is the dict `token_level_study` returns, `c` the measured speed ratio, `world` the name of
the world the rates were measured on ("smoke world"), which labels the columns and rows.
"""
from __future__ import annotations

from xsd import readings, seeds
from xsd.studies import token_level

NEAR_EVEN_PERCENT = 5  # a speedup within 5 % of 1 reads "within 5 % of break-even"


# -- tables ------------------------------------------------------------------------------------------

def raw_table(study: dict, world: str):
    """Per split (rows): positions, raw acceptance and the run from the start, beside the seeds'."""
    import pandas as pd

    return pd.DataFrame([
        {"split": split, "positions": study["raw"][split]["positions"],
         f"acceptance ({world})": study["raw"][split]["acceptance"],
         f"run from start ({world})": study["raw"][split]["run_from_start"],
         "seeds: acceptance": seeds.TOKEN_LEVEL[f"raw_acceptance_{split}"]}
        for split in ("train", "test")
    ]).set_index("split")


def seeds_benchmark_line() -> str:
    return f"seeds, benchmark run: {seeds.TOKEN_LEVEL['raw_acceptance_benchmark']:.2%}"


def adapter_table(study: dict, world: str):
    """The TokenAdapter's test top-1, top-5, top-1 run from the start, size and epochs, beside the seeds'."""
    import pandas as pd

    adapter, reported, epochs = study["token_adapter"], seeds.TOKEN_LEVEL, seeds.TOKEN_LEVEL
    scores = adapter["test"]
    return pd.DataFrame([
        {"quantity": "top-1", world: scores["top1"], "seeds": reported["token_adapter_top1_test"]},
        {"quantity": "top-5", world: scores["top5"], "seeds": reported["token_adapter_top5_test"]},
        {"quantity": "top-1 run from start", world: scores["top1_run_from_start"], "seeds": None},
        {"quantity": "parameters (M)", world: adapter["params"] / 1e6, "seeds": reported["token_adapter_params_m"]},
        {"quantity": "epochs (best)", world: f"{adapter['epochs']} ({adapter['best_epoch']})",
         "seeds": f"{epochs['token_adapter_epochs']} ({epochs['token_adapter_best_epoch']})"},
    ]).set_index("quantity")


def decode_table(timings: dict, world: str):
    """Both models' decode time per token and c, beside the seeds'."""
    import pandas as pd

    stage = seeds.STAGE_TIMING["decode_per_token"]
    return pd.DataFrame([
        {"quantity": "draft decode (ms/token)", world: timings["draft"]["decode_per_token"], "seeds": stage["draft"]},
        {"quantity": "target decode (ms/token)", world: timings["target"]["decode_per_token"], "seeds": stage["target"]},
        {"quantity": "c = T_draft / T_target", world: timings["c"], "seeds": seeds.CLASSIC_SD_EXAMPLE["c"]},
    ]).set_index("quantity")


def top1_label(world: str) -> str:
    return f"TokenAdapter top-1 ({world})"


def top5_label(world: str) -> str:
    return f"TokenAdapter top-5 ({world}, unreachable bound)"


def acceptance_rates(study: dict, world: str) -> dict[str, float]:
    """The acceptance rates classic SD is evaluated with: raw draft tokens, the TokenAdapter's top-1
    and top-5 (a bound), and the seeds' top-1."""
    return {f"raw draft tokens ({world})": study["raw"]["test"]["acceptance"],
            top1_label(world): study["token_adapter"]["test"]["top1"],
            top5_label(world): study["token_adapter"]["test"]["top5"],
            "seeds: TokenAdapter top-1": seeds.CLASSIC_SD_EXAMPLE["alpha"]}


def sd_table(study: dict, c: float, gammas, world: str):
    """`token_level.classic_sd` of every acceptance rate at c, one row per rate."""
    import pandas as pd

    return pd.DataFrame(token_level.classic_sd(acceptance_rates(study, world), c, gammas)).set_index("acceptance")


def break_even_lines(study: dict, c: float, gammas, world: str) -> list[str]:
    """The seeds' worked example, the α each γ needs to break even at c, and the speedup of the
    TokenAdapter's top-1 at its best γ."""
    example = seeds.CLASSIC_SD_EXAMPLE
    lines = [f"seeds: α = {example['alpha']}, γ = {example['gamma']}, c = {example['c']} -> "
             f"speedup {example['speedup']}× ({readings.speedup_phrase(example['speedup'])})"]
    for gamma, alpha in token_level.required_alphas(c, gammas).items():
        lines.append(f"measured c = {c:.3f}, γ = {gamma}: break-even needs "
                     + (f"α ≥ {alpha:.3f}" if alpha is not None else "more than α = 1 (never)"))
    greedy = sd_table(study, c, gammas, world).loc[top1_label(world)]
    lines.append(f"TokenAdapter top-1 drafts at their best γ = {int(greedy['best γ'])}: "
                 f"{greedy['speedup at best γ']:.3f}× -> " + readings.speedup_phrase(greedy["speedup at best γ"]))
    return lines


# -- the reading ---------------------------------------------------------------------------------------

def times_phrase(ratio: float) -> str:
    """A ratio for "N times the raw rate": one decimal from 1 on, two significant digits below."""
    return f"{ratio:.1f}" if ratio >= 1 else f"{ratio:.2g}"


def acceptance_reading(study: dict) -> str:
    """Raw acceptance and the TokenAdapter's top-1 / top-5 against the seeds', as ratios in words."""
    raw_test, seeds_raw = study["raw"]["test"]["acceptance"], seeds.TOKEN_LEVEL["raw_acceptance_test"]
    top1, top5 = study["token_adapter"]["test"]["top1"], study["token_adapter"]["test"]["top5"]
    seeds_top1, seeds_top5 = seeds.TOKEN_LEVEL["token_adapter_top1_test"], seeds.TOKEN_LEVEL["token_adapter_top5_test"]
    text = [f"**Acceptance.** Raw acceptance on the test answers is {raw_test:.{1 if raw_test >= 0.1 else 2}%} against "
            f"the seeds' {seeds_raw:.2%}: {readings.ratio_phrase(raw_test, seeds_raw)}."]
    if raw_test > seeds_raw * (1 + readings.SAME_WITHIN):
        text.append("The world's answers are short and built from a small set of templates, and the two models, "
                    "although taught different answer styles, share many of those words in the same places.")
    if raw_test > 0:
        lift = (f"{times_phrase(top1 / raw_test)} times the raw rate (the seeds' adapter: "
                f"{times_phrase(seeds_top1 / seeds_raw)} times)")
    else:
        lift = "above a raw rate of zero" if top1 > 0 else "no better than the raw rate of zero"
    text.append(f"The TokenAdapter's top-1 is {top1:.1%}, {lift}; against the seeds' {seeds_top1:.1%} top-1 it is "
                f"{readings.ratio_phrase(top1, seeds_top1)}, and its top-5 of {top5:.1%} against their "
                f"{seeds_top5:.1%} is {readings.ratio_phrase(top5, seeds_top5)}.")
    if top1 > seeds_top1 and top5 > seeds_top5:
        text.append("These rates make token-level drafting look *better* here than in the study.")
    return " ".join(text)


def break_even_phrase(top1: float, c: float, gammas) -> str:
    """The α each γ needs to break even at c, and whether the TokenAdapter's top-1 reaches it."""
    needed = token_level.required_alphas(c, gammas)
    reachable = {g: a for g, a in needed.items() if a is not None}
    never = [g for g, a in needed.items() if a is None]
    reached = [g for g, a in reachable.items() if top1 >= a]
    if not reachable:
        return (f"No acceptance rate breaks even at γ = {readings.join(never)}: every drafted token costs at least "
                f"a target step")
    bars = "Break-even needs " + ", ".join(f"α ≥ {a:.3f} at γ = {g}" for g, a in reachable.items())
    bars += f" (no α at γ = {readings.join(never)})" if never else ""
    if reached:
        return bars + f"; the TokenAdapter's top-1 of {top1:.3f} reaches the bar at γ = {readings.join(reached)}"
    return bars + (f"; the TokenAdapter's top-1 of {top1:.3f} is below the bar at every γ, by "
                   f"{min(a - top1 for a in reachable.values()):.3f} at the least")


def verdict_reading(study: dict, c: float, gammas, world: str) -> str:
    """c in words, the break-even bars, the speedup at the best γ of the top-1 rate and of the top-5
    bound, and whether the seeds' conclusion (token-level SD does not win) holds on this profile."""
    top1 = study["token_adapter"]["test"]["top1"]
    table = sd_table(study, c, gammas, world)
    greedy, bound = table.loc[top1_label(world)], table.loc[top5_label(world)]
    best_top1, best_top5 = float(greedy["speedup at best γ"]), float(bound["speedup at best γ"])
    near_even = (f" (within {NEAR_EVEN_PERCENT} % of break-even)" if abs(best_top5 - 1) < NEAR_EVEN_PERCENT / 100
                 else "")
    text = [f"**The verdict.** {readings.c_phrase(c)}. {break_even_phrase(top1, c, gammas)}. With the rate greedy "
            f"verification accepts, classic SD at its best γ = {int(greedy['best γ'])} gives {best_top1:.3f}×, "
            f"{readings.speedup_phrase(best_top1)}; the unreachable top-5 bound gives {best_top5:.3f}× at "
            f"γ = {int(bound['best γ'])}{near_even}, {readings.speedup_phrase(best_top5)}."]
    if best_top1 < 1:
        text.append(f"The seeds' conclusion holds on this profile: token-level SD with the full draft model does not "
                    f"win at c = {c:.2f}" + (", even with acceptance rates above the seeds'."
                                             if top1 > seeds.TOKEN_LEVEL["token_adapter_top1_test"] else "."))
    else:
        text.append(f"Unlike in the seeds, token-level SD with the full draft model wins on this profile at "
                    f"c = {c:.2f}.")
    return " ".join(text)
