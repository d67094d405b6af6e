"""The live wall-clock benchmark: every method on the same test samples, in one run.

Warm-up first (every method once, unrecorded), then the samples in turn with the method order
rotated per sample, so slow drifts of the machine fall on all methods alike. Speedups are ratios
of times measured in this one run. Per-call costs (a target decode step, a verify forward over
k tokens, a head step) are measured in the same run to compute each method's ceiling

    S = τ · t_decode / (t_verify(γ + 1) + γ · t_head)

the decode-phase speedup a drafter with that τ could reach if nothing but these calls cost time.
The ceiling takes t_decode and t_verify(k) as the loop paid them in this run (`costs["in_loop"]`:
the median verify forward over k tokens among the methods with no draft process beside them);
the same calls timed alone, repeated back to back (`costs`, also kept), run faster than between
other work. t_head is the head step timed alone; `ceiling_loop_head` uses the head step as the
loop paid it instead, which costs more there: between rounds the target's forward pushes the small
head out of the CPU's caches. A method's share of its ceiling is its decode-phase speedup over `ar-loop` (the same
loop with no drafts: one decode step per token); its `decode_speedup_vs_ar` is over `ar`, whose
`generate` adds per-step overhead that no ceiling counts.

Spans. Every method's run (`Decoder.run`, `ar` included) records the same three spans, on the
clock the loop reads (after the device's queued work): `inputs_s`, building the target's inputs
from the raw frames and question; `prefill_s`, from the start of decoding to the prefill's logits
(vision encoding included); and the decode phase, `total_s − prefill_s`, from the prefill's logits
to the last token. The loop methods read these clocks in the loop. `ar` is one `generate` call,
timed from call to return; a logits processor that only reads the clock marks its first step,
where the prefill's logits arrive, so its decode phase starts where the loop's does (generate's
own setup before the prefill falls in its prefill span, as the loop's cache set-up does in
theirs). Timing `generate` whole and subtracting a prefill timed elsewhere would leave input
building and generate's setup inside `ar`'s decode phase and inflate every decode-phase speedup.
The decode-phase speedups `decode_speedup_vs_ar` and `decode_speedup_vs_ar_loop` are ratios of
these decode phases summed over the same samples; the end-to-end `speedup_vs_ar` and
`speedup_vs_ar_loop` are ratios of `Decoder.run`'s whole wall time (inputs included, for every
method alike).

What a run says beyond its summary (`best_variant`, `prefill_share`, `amdahl_bound`, ...) is at the
end; the live study's tables and readings are in `live_report` (sections 1–4), `live_predictions`
(the cost models beside the run) and `live_goals` (long answers, goals, Amdahl, exactness).
"""
from __future__ import annotations

import statistics

import torch

from xsd import costmodel, metrics
from xsd.cache import cached_json
from xsd.config import Profile, fingerprint
from xsd.locations import Locations
from xsd.names import METHODS, NEEDS_WORKER, POLICIES
from xsd.studies.call_costs import in_loop_costs, loop_cost, per_call_costs

BASELINES = ("ar", "ar-loop")
# the mini world's longest answers (reference answers of 27 target tokens on average, against the study's 50-token
# window): the benchmark's second run, where the decode phase weighs more against the prefill
LONG_ANSWERS = ("describe",)
LONG_ANSWER_SAMPLES = 12
DRAFTING = ("prompt-lookup", "b1", "l5f", "two-phase")


def variants(gammas, policies=POLICIES) -> list[tuple[str, int | None, str | None]]:
    """(method, γ, policy) of every run: methods reading the draft VLM's states once per policy."""
    plan = [(m, None, None) for m in BASELINES]
    for g in gammas:
        for m in DRAFTING:
            plan += [(m, g, p) for p in policies] if m in NEEDS_WORKER else [(m, g, None)]
    return plan


def label(method: str, gamma: int | None, policy: str | None = None) -> str:
    name = method if gamma is None else f"{method}@{gamma}"
    return name if policy is None else f"{name} {policy}"


def bench_decode(profile: Profile, n: int = 24, gammas=(2, 3, 4), policies=POLICIES,
                 max_new_tokens: int | None = None, seed: int = 0, qtypes: tuple[str, ...] = (),
                 progress: bool = True, device=None, draft_device=None, static: bool = False) -> dict:
    """Every method on n seeded test samples (of the question types `qtypes` only, when given),
    on `device` (None: the profile's), the draft VLM on `draft_device` (default: the same).
    `static`: every method but `ar` runs the target over a static cache (CUDA graphs on a GPU);
    `ar-loop` is then the baseline on the same footing, `ar` stays transformers' `generate`."""
    from tqdm import tqdm

    from xsd.device import describe
    from xsd.pipeline import ensure_decoder
    from xsd.studies.benchmark_inputs import test_inputs
    from xsd.studies.feature_adapters import best_prefill_adapter

    max_new_tokens = profile.extract.max_new_tokens if max_new_tokens is None else max_new_tokens
    prefill_adapter = None if profile.models.random_weights is not None else best_prefill_adapter(profile)
    decoder = ensure_decoder(profile, METHODS, gamma=gammas[0], policy=policies[0], prefill_adapter=prefill_adapter,
                             progress=progress, device=device, draft_device=draft_device, static=static)
    try:
        samples, inputs = test_inputs(profile, n, seed + 1, qtypes, progress)
        plan = variants(gammas, policies)
        for variant in plan:  # warm-up
            _run(decoder, variant, inputs[0], max_new_tokens)
        runs = []
        for i, sample in enumerate(tqdm(inputs, desc="bench decode", unit="sample", disable=not progress)):
            for variant in plan[i % len(plan):] + plan[:i % len(plan)]:
                runs.append(_run(decoder, variant, sample, max_new_tokens))
        costs = per_call_costs(decoder, inputs[0], max(gammas) + 1)
        costs["in_loop"] = in_loop_costs(runs)
    finally:
        decoder.close()
    return {
        "profile": profile.name, "n_samples": len(inputs), "gammas": list(gammas), "policies": list(policies),
        "max_new_tokens": max_new_tokens, "seed": seed, "qtypes": list(qtypes), "threads": decoder.threads,
        "measured_on": describe(decoder.target.device, decoder.target.model.dtype, decoder.threads),
        "prefill_adapter": decoder.prefill_adapter, "costs": costs,
        "methods": summarise(runs, costs), "runs": runs, "sample_qtypes": {s.id: s.qtype for s in samples},
    }


def _run(decoder, variant: tuple, sample, max_new_tokens: int) -> dict:
    method, gamma, policy = variant
    sample_id, event_frames, video_frames, question = sample
    result = decoder.run(method, event_frames, video_frames, question, max_new_tokens, gamma=gamma, policy=policy)
    return {**result, "sample": sample_id, "label": label(method, gamma, policy), "gamma": gamma, "policy": policy}


def decode_benchmark(profile: Profile, n: int = 24, gammas=(2, 3, 4), policies=POLICIES,
                     qtypes: tuple[str, ...] = (), refresh: bool = False, progress: bool = False) -> dict:
    """`bench_decode` on n test samples of every question type, or of the types `qtypes` only,
    its models and adapters built first if needed; cached by the models, adapters and settings."""
    from xsd import paths
    from xsd.pipeline import ensure_adapters

    ensure_adapters(profile, progress=progress)
    where = Locations(profile)
    # the adapters by their place under the models folder, not an absolute path: a moved cache is reused
    adapters = [where.adapter(name).relative_to(paths.models_dir()).as_posix() for name in ("B1", "L5F")]
    key = {"models": where.models_key, "adapters": adapters,
           "n": n, "gammas": list(gammas), "policies": list(policies), "qtypes": list(qtypes),
           "extract": profile.extract,
           # bump when the benchmark's output or the decoder's speed changes (2: in-loop per-call
           # costs; 3: heads skip their alignment output and rebuilt rotary tables when drafting;
           # 4: head steps timed in the loop; 5: every method's inputs, prefill and decode phase timed
           # over the same spans, ar's by generate's first step; decode speedups over ar and ar-loop)
           "format": 5}
    bench = cached_json(where.results("results") / f"decode_benchmark-{fingerprint(key)}.json",
                        lambda: bench_decode(profile, n=n, gammas=tuple(gammas), policies=tuple(policies),
                                             qtypes=tuple(qtypes), progress=progress), refresh)
    # the summaries are derived from the runs and costs alone: made afresh, a cached run has every field
    return {**bench, "methods": summarise(bench["runs"], bench["costs"])}


# -- summaries ------------------------------------------------------------------------------------

def summarise(runs: list[dict], costs: dict) -> dict:
    """Per method (run label): total times, speedups over ar and ar-loop (end to end and of the
    decode phase), each sample's speedup over ar, exact match, and for the loop's methods τ, the
    phases, the ceiling and the target's slowdown (`drafting_summary`)."""
    reference = {r["sample"]: r for r in runs if r["label"] == "ar"}
    ar_wall = sum(r["wall_s"] for r in reference.values())
    loop_wall = {r["sample"]: r["wall_s"] for r in runs if r["label"] == "ar-loop"}
    ar_decode = {r["sample"]: decode_phase_s(r["stats"]) for r in reference.values() if has_spans(r["stats"])}
    loop_decode = {r["sample"]: decode_phase_s(r["stats"]) for r in runs if r["label"] == "ar-loop"}
    summary = {}
    for name in dict.fromkeys(r["label"] for r in runs):
        own = [r for r in runs if r["label"] == name]
        wall = sum(r["wall_s"] for r in own)
        samples = [{"sample": r["sample"], "tokens": len(r["tokens"]),
                    "speedup": reference[r["sample"]]["wall_s"] / r["wall_s"]} for r in own]
        per_sample = [s["speedup"] for s in samples]
        entry = {
            "wall_s": wall, "tokens": sum(len(r["tokens"]) for r in own), "n_samples": len(own),
            "speedup_vs_ar": ar_wall / wall, "speedup_vs_ar_loop": ratio_over(loop_wall, own, lambda r: r["wall_s"]),
            "inputs_s": sum(r["stats"].get("inputs_s", 0.0) for r in own),
            "decode_phase_s": sum(decode_phase_s(r["stats"]) for r in own) if all(has_spans(r["stats"]) for r in own)
            else None,
            "decode_speedup_vs_ar": decode_speedup(ar_decode, own),
            "decode_speedup_vs_ar_loop": decode_speedup(loop_decode, own),
            "speedup_per_sample": {"mean": statistics.mean(per_sample), "min": min(per_sample),
                                   "max": max(per_sample),
                                   "stdev": statistics.stdev(per_sample) if len(per_sample) > 1 else 0.0},
            # each sample's speedup over ar (its own sample's ar time over its time) and answer length
            "per_sample": samples,
            "exact_match_rate": sum(r["tokens"] == reference[r["sample"]]["tokens"] for r in own) / len(own),
            "gamma": own[0]["gamma"], "policy": own[0]["policy"],
        }
        if "target_forwards" in own[0]["stats"]:  # the loop's methods (ar-loop and the drafting ones)
            entry.update(drafting_summary(own, costs, loop_decode))
        summary[name] = entry
    return summary


def has_spans(stats: dict) -> bool:
    return "prefill_s" in stats and "total_s" in stats


def ratio_over(reference: dict, own: list[dict], seconds) -> float | None:
    """Σ reference seconds / Σ own seconds over the same samples (None: a sample has no reference)."""
    if not own or not all(r["sample"] in reference for r in own):
        return None
    return sum(reference[r["sample"]] for r in own) / max(sum(seconds(r) for r in own), 1e-9)


def decode_speedup(reference_decode: dict, own: list[dict]) -> float | None:
    """The decode phase of a reference (ar or ar-loop) over `own`'s, on the same samples and the same
    span (see the module docstring)."""
    if not all(has_spans(r["stats"]) for r in own):
        return None
    return ratio_over(reference_decode, own, lambda r: decode_phase_s(r["stats"]))


def decode_phase_s(stats: dict) -> float:
    """A decode's time from the prefill's logits to its last token (phase-1 verification and every
    round; for `ar`, every step of `generate` after its first logits): the same span for every method."""
    return stats["total_s"] - stats["prefill_s"]


def drafting_summary(own: list[dict], costs: dict, loop_decode: dict | None = None) -> dict:
    stats = [r["stats"] for r in own]
    emitted = sum(sum(s["emitted_per_round"]) for s in stats)
    forwards = sum(s["target_forwards"] for s in stats)
    gamma = own[0]["gamma"]
    full_rounds = torch.tensor([a for s in stats for a, p in zip(s["accepted_per_round"], s["proposed_per_round"])
                                if p == gamma and gamma], dtype=torch.long)
    phases = {k: sum(s[k] for s in stats) for k in ("prefill_s", "draft_s", "verify_s", "other_s", "total_s")}
    tau = emitted / max(forwards, 1)
    head = "L5F" if own[0]["method"] in ("l5f", "two-phase") else "B1"
    drafts_by_head = own[0]["method"] != "prompt-lookup"
    head_alone = costs["head_step_s"].get(head, 0.0) if drafts_by_head else 0.0
    head_in_loop = (costs.get("in_loop") or {}).get("head_step_s", {}).get(head) if drafts_by_head else 0.0

    def ceiling_with(head_s):
        return costmodel.chain_ceiling(tau, loop_cost(costs, "1"), loop_cost(costs, str(gamma + 1)), gamma, head_s)

    ceiling = ceiling_with(head_alone) if gamma else None
    ceiling_loop_head = ceiling_with(head_in_loop) if gamma and head_in_loop is not None else None
    over_loop = decode_speedup(loop_decode or {}, own)  # the share of the ceiling is taken over ar-loop
    return {
        "tau": tau, "tau_note": "tokens per verifying target forward, the target's own token included",
        "per_position_acceptance": (metrics.per_position_acceptance(full_rounds, gamma).tolist()
                                    if len(full_rounds) else []),
        "free_tokens_mean": statistics.mean(s["free_tokens"] for s in stats),
        "phases_s": phases, "outside_forward_fraction": phases["other_s"] / max(phases["total_s"], 1e-9),
        "ceiling": ceiling,
        "fraction_of_ceiling": over_loop / ceiling if ceiling and over_loop else None,
        # the same ceiling with the head step as the loop paid it (see in_loop_costs)
        "ceiling_loop_head": ceiling_loop_head,
        "fraction_of_ceiling_loop_head": over_loop / ceiling_loop_head if ceiling_loop_head and over_loop else None,
        "egpt_wait_s": sum(s.get("egpt_wait_s", 0.0) for s in stats),
        "egpt_missing": sum(s.get("egpt_missing", 0) for s in stats),
        "target_slowdown": target_slowdown(stats, costs),
    }


def target_slowdown(stats: list[dict], costs: dict) -> dict:
    """How much slower the target's own calls ran inside this method than alone: measured prefill
    and verify time over what the per-call costs (measured with nothing else running) predict for
    the same calls. Above 1 when something competes for the cores, e.g. the draft VLM's process."""
    largest = max(int(k) for k in costs["verify_s"])
    alone_verify = sum(costs["verify_s"][str(min(1 + p, largest))] for s in stats for p in s["proposed_per_round"])
    return {"prefill": sum(s["prefill_s"] for s in stats) / (len(stats) * costs["prefill_s"]),
            "verify": sum(s["verify_s"] for s in stats) / alone_verify if alone_verify else None}


# -- what a run says, derived from its summary ----------------------------------------------------

def best_variant(run: dict, prefix: str, by: str = "speedup_vs_ar") -> str:
    """The label of the method starting with `prefix` (e.g. "two-phase", "l5f@3 ") with the highest
    `by` in the run's summary; ties go to the label that sorts last, whatever the order of the runs."""
    candidates = [name for name in run["methods"] if name.startswith(prefix)]
    if not candidates:
        raise KeyError(f"no method starting with {prefix!r} in this run: {', '.join(run['methods'])}")
    return max(candidates, key=lambda name: (run["methods"][name][by], name))


def answer_tokens(run: dict) -> float:
    """The target's mean answer length in tokens (ar's, which every lossless method repeats)."""
    ar = run["methods"]["ar"]
    return ar["tokens"] / ar["n_samples"]


def prefill_share(run: dict) -> float:
    """p: the target's prefill (vision included), timed alone, as a share of `ar`'s mean time."""
    ar = run["methods"]["ar"]
    return run["costs"]["prefill_s"] / (ar["wall_s"] / ar["n_samples"])


def amdahl_bound(share: float) -> float:
    """1 / p: no decoder that shortens only the decode phase can beat it overall (p: `prefill_share`)."""
    return 1 / share


def decode_speedup_needed(share: float, overall: float) -> float:
    """The decode-phase speedup an overall speedup `overall` needs when the untouched prefill takes
    the share p of the baseline's time: (1 − p) / (1/S − p); infinite from S ≥ 1/p on."""
    return (1 - share) / (1 / overall - share) if 1 / overall > share else float("inf")
