"""Where the two models' time goes, as the world-and-models study shows it: the stage timings that
`xsd.studies.stage_timings` measures, beside the study's reported ones (`xsd.seeds.STAGE_TIMING`),
and the reading of c and of the draft's head start up to the first token.
"""
from __future__ import annotations

from xsd import readings, seeds
from xsd.config import Profile

STAGES = (("vision", "vision"), ("projector", "projector"), ("LLM prefill", "prefill"),
          ("decode per token", "decode_per_token"))  # (row label, key in the timings and the seeds)
NO_HEAD_START = 1 + readings.SAME_WITHIN  # a prefill ratio up to this reads "no head start to speak of"


def stage_table(timings: dict, profile: Profile):
    """Per stage (rows): both models' measured ms (two decimals) and the seeds' figures or ranges."""
    import pandas as pd

    reported = seeds.STAGE_TIMING
    return pd.DataFrame([{"stage": stage,
                          f"draft ({profile.name}, ms)": round(timings["draft"][key], 2),
                          f"target ({profile.name}, ms)": round(timings["target"][key], 2),
                          "draft (seeds, ms)": reported[key]["draft"], "target (seeds, ms)": reported[key]["target"]}
                         for stage, key in STAGES])


def seeds_ratio(key: str, over: str, under: str) -> tuple[float, float, float]:
    """(numerator, denominator, ratio) of one seeds' stage time between the two models."""
    top, bottom = seeds.STAGE_TIMING[key][over], seeds.STAGE_TIMING[key][under]
    return top, bottom, top / bottom


def timing_lines(timings: dict) -> list[str]:
    """c and the prefill ratios beside the seeds', the visual tokens, and each model's vision +
    prefill time by the number of frames it reads."""
    d, t, c = seeds_ratio("decode_per_token", "draft", "target")
    t_pre, d_pre, prefill = seeds_ratio("prefill", "target", "draft")
    lines = [f"c = decode_draft / decode_target = {timings['c']:.3f} (seeds: {d}/{t} = {c:.2f})",
             f"prefill ratio, LLM only: {timings['prefill_ratio']:.2f}×; with vision: "
             f"{timings['prefill_ratio_with_vision']:.2f}× (seeds: {t_pre}/{d_pre} = {prefill:.1f}×)",
             f"visual tokens: draft {timings['draft']['visual_tokens']}, target {timings['target']['visual_tokens']}"]
    for side in ("target", "draft"):
        lines.append(f"{side}, vision + prefill: " + ", ".join(
            f"{k.replace('_', ' ')} {v['prefill_with_vision']:.1f} ms ({v['visual_tokens']} tokens)"
            for k, v in timings["frames"][side].items()))
    return lines


def timing_reading(timings: dict, profile: Profile) -> str:
    """c in words beside the study's, and whether the target's vision + prefill gives the draft a
    head start (a ratio in words; "no head start to speak of" up to NO_HEAD_START)."""
    llm = profile.models.llm if profile.models is not None else None
    same_llm = f" Both LLMs have {llm.num_layers} layers of width {llm.hidden_size}." if llm is not None else ""
    ratio = timings["prefill_ratio_with_vision"]
    study_ratio = seeds_ratio("prefill", "target", "draft")[2]
    head_start = ("the target's vision + prefill takes "
                  + readings.ratio_phrase(ratio, 1.0, size="long", more="longer", less="shorter") + " as the draft's"
                  + (", so the draft has no head start to speak of" if ratio <= NO_HEAD_START else ""))
    return (f"{readings.c_phrase(timings['c'])}.{same_llm} The study's pair of Vicuna-7B backbones measured "
            f"c = {seeds.CLASSIC_SD_EXAMPLE['c']}. Up to the first token {head_start} ({ratio:.2f}×; in the study "
            f"{study_ratio:.1f}×).")
