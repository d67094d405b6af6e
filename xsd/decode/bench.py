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
"""
from __future__ import annotations

import statistics

import torch

from xsd import metrics
from xsd.config import Profile, load_profile
from xsd.decode.methods import NEEDS_WORKER, POLICIES, Decoder, static_target

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


def bench_decode(profile: str | Profile, n: int = 24, gammas=(2, 3, 4), policies=POLICIES,
                 max_new_tokens: int | None = None, seed: int = 0, qtypes: tuple[str, ...] = (),
                 progress: bool = True, device=None, draft_device=None, static: bool = False) -> dict:
    """Every method on n seeded test samples (of the question types `qtypes` only, when given),
    on `device` (None: the profile's), the draft VLM on `draft_device` (default: the same).
    `static`: every method but `ar` runs the target over a static cache (CUDA graphs on a GPU);
    `ar-loop` is then the baseline on the same footing, `ar` stays transformers' `generate`."""
    from xsd.device import describe

    from tqdm import tqdm

    from xsd.pipeline import ensure_world
    from xsd.world.dataset import WorldDataset

    profile = load_profile(profile) if isinstance(profile, str) else profile
    max_new_tokens = profile.extract.max_new_tokens if max_new_tokens is None else max_new_tokens
    decoder = Decoder.load(profile, gamma=gammas[0], policy=policies[0], progress=progress, device=device,
                           draft_device=draft_device, static=static)
    try:
        dataset = WorldDataset(ensure_world(profile, progress), "test", event_frames=profile.models.event_frames)
        samples = benchmark_samples(dataset, n, seed + 1, qtypes)
        inputs = [(s.id, dataset.event_frames(s), dataset.video_frames(s), s.question) for s in samples]
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


def benchmark_samples(dataset, n: int, seed: int, qtypes: tuple[str, ...] = ()) -> list:
    """n seeded samples of the split; of the question types `qtypes` only, when given."""
    from xsd.extract import chosen_samples

    if not qtypes:
        return chosen_samples(dataset, n, seed)
    present = {s.qtype for s in dataset.samples}
    unknown = sorted(set(qtypes) - present)
    if unknown:
        raise ValueError(f"no test samples of question type {', '.join(unknown)}; the split has {', '.join(sorted(present))}")
    return chosen_samples([s for s in dataset.samples if s.qtype in qtypes], n, seed)


def _run(decoder: Decoder, variant: tuple, sample, max_new_tokens: int) -> dict:
    method, gamma, policy = variant
    sample_id, event_frames, video_frames, question = sample
    if gamma is not None:
        decoder.gamma = gamma
    if policy is not None:
        decoder.policy = policy
    result = decoder.run(method, event_frames, video_frames, question, max_new_tokens)
    return {**result, "sample": sample_id, "label": label(method, gamma, policy), "gamma": gamma, "policy": policy}


# -- per-call costs -------------------------------------------------------------------------------

def _median_s(call, device, repeats: int = 15) -> float:
    from xsd.models.timing import median_seconds

    return median_seconds(call, repeats=repeats, warmup=1, device=device)


@torch.no_grad()
def per_call_costs(decoder: Decoder, sample, max_k: int) -> dict:
    """Median seconds of one target decode step, a verify forward over k tokens (k = 1..max_k),
    a head step of B1 and of L5F, and the target's prefill, on the sample's real context."""
    from xsd.adapters import KVCache

    _, _, video_frames, question = sample
    target = decoder.target
    device = target.device
    inputs = decoder.pair.inputs("target", video_frames, question)
    prefill_s = _median_s(lambda: target.prefill(inputs), device, repeats=5)
    _, state, cache = target.prefill(inputs)
    length = cache.get_seq_length()

    def forward(k):
        target.forward([5] * k, cache)
        target.crop(cache, length)

    verify = {str(k): _median_s(lambda k=k: forward(k), device) for k in range(1, max_k + 1)}  # JSON keys
    heads = {}
    hidden = state[None, None]
    for name, head in decoder.heads.items():
        args = (hidden,) * len(head.streams)

        def step(head=head, args=args):
            cache_ = KVCache()
            head.next_state(*args, cache=cache_)
            logits = decoder.lm_head @ head.next_state(*args, cache=cache_)[0, -1]
            return logits.argmax()

        heads[name] = _median_s(step, device) / 2  # two head calls (and one LM-head product) per timing
    return {"prefill_s": prefill_s, "decode_s": verify["1"], "verify_s": verify, "head_step_s": heads,
            "prompt_tokens": length}


@torch.no_grad()
def draft_contention(decoder: Decoder, sample, max_k: int, repeats: int = 5) -> dict:
    """The target's prefill, decode step and verify forwards timed while the draft VLM works beside
    it (its own process, on its own device or sharing the target's): for the prefill, the draft
    starts with it, as in phase 1; for the other calls, the draft is past its prefill and decoding
    (told to ignore EOS, so it is still decoding when the call ends). Medians in seconds, and how
    many draft tokens were ready when the target's prefill ended."""
    _, event_frames, video_frames, question = sample
    target, worker = decoder.target, decoder.worker
    inputs = decoder.pair.inputs("target", video_frames, question)
    _, _, cache = target.prefill(inputs)
    length = cache.get_seq_length()

    def beside_draft(call, draft_decoding: bool) -> tuple[float, float, float]:
        times, ready, busy = [], [], []
        for _ in range(repeats + 1):  # the first is a warm-up
            worker.submit(event_frames, question, ignore_eos=True)
            if draft_decoding:
                _wait_for(lambda: worker.ready.value >= 1)
            start = target.now()
            call()
            times.append(target.now() - start)
            ready.append(worker.ready.value)
            busy.append(not worker.finished.value)
            worker.finish()
        return statistics.median(times[1:]), statistics.mean(ready[1:]), statistics.mean(busy[1:])

    def forward(k):
        target.forward([5] * k, cache)
        target.crop(cache, length)

    prefill_s, ready_at_prefill_end, _ = beside_draft(lambda: target.prefill(inputs), draft_decoding=False)
    verify, busy = {}, []
    for k in range(1, max_k + 1):
        verify[str(k)], _, still_busy = beside_draft(lambda k=k: forward(k), draft_decoding=True)
        busy.append(still_busy)
    return {"prefill_s": prefill_s, "decode_s": verify["1"], "verify_s": verify,
            # draft tokens ready when the target's prefill ended (the first comes from the draft's prefill)
            "draft_tokens_at_prefill_end": ready_at_prefill_end,
            "draft_busy_fraction": statistics.mean(busy), "repeats": repeats,
            "draft_device": decoder.threads.get("draft_device")}


def _wait_for(condition, timeout_s: float = 600) -> None:
    import time

    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the draft worker made no token in time")
        time.sleep(0.0002)


def contention_slowdown(alone: dict, beside: dict) -> dict:
    """How many times slower each target call ran with the draft VLM beside it than alone."""
    return {"prefill": beside["prefill_s"] / alone["prefill_s"], "decode": beside["decode_s"] / alone["decode_s"],
            "verify": {k: beside["verify_s"][k] / alone["verify_s"][k] for k in beside["verify_s"]}}


def greedy_exact_match(decoder: Decoder, samples: list, max_new_tokens: int, methods=("ar-loop", "b1")) -> dict:
    """Greedy tokens of each method against the target's own `generate` (ar), per method: the share
    of samples that matched token for token, and the tokens compared."""
    result = {m: {"matched": 0, "samples": 0, "tokens": 0} for m in methods}
    for _, event_frames, video_frames, question in samples:
        reference = decoder.run("ar", event_frames, video_frames, question, max_new_tokens)["tokens"]
        for method in methods:
            tokens = decoder.run(method, event_frames, video_frames, question, max_new_tokens)["tokens"]
            entry = result[method]
            entry["samples"] += 1
            entry["matched"] += tokens == reference
            entry["tokens"] += len(reference)
    return {m: {**e, "rate": e["matched"] / max(e["samples"], 1)} for m, e in result.items()}


def bench_costs(profile: str | Profile, device=None, draft_device=None, max_k: int = 8, samples: int = 2,
                max_new_tokens: int | None = None, prompt_tokens: dict | None = None, repeats: int = 5,
                seed: int = 0, progress: bool = True) -> dict:
    """Per-call costs only (`xsd bench decode --costs-only`): the target's prefill, decode step,
    verify(k) for k = 1..max_k and the heads' steps, alone and with the draft VLM beside the target,
    and the greedy exact match of ar-loop and b1 against `generate` on `samples` test samples. Runs
    on any profile, `shapes` included, whose random weights make acceptance meaningless: no
    acceptance or speedup is reported, only costs, which is what a costs file carries."""
    from xsd.device import describe, peak_memory_gb
    from xsd.pipeline import ensure_world
    from xsd.world.dataset import WorldDataset

    profile = load_profile(profile) if isinstance(profile, str) else profile
    max_new_tokens = profile.extract.max_new_tokens if max_new_tokens is None else max_new_tokens
    decoder = Decoder.load(profile, methods=("ar", "ar-loop", "b1", "l5f"), device=device,
                           draft_device=draft_device, prompt_tokens=prompt_tokens, progress=progress)
    try:
        dataset = WorldDataset(ensure_world(profile, progress), "test", event_frames=profile.models.event_frames)
        chosen = benchmark_samples(dataset, samples, seed + 1)
        inputs = [(s.id, dataset.event_frames(s), dataset.video_frames(s), s.question) for s in chosen]
        eager = target_costs(decoder, inputs, max_k, max_new_tokens, repeats)
        decoder.target = static_target(profile, decoder.pair, max_k)
        static = target_costs(decoder, inputs, max_k, max_new_tokens, repeats)
    finally:
        decoder.close()
    return {
        "kind": "costs", "profile": profile.name, "source": "xsd bench decode --costs-only",
        "measured_on": describe(decoder.target.device, decoder.target.model.dtype, decoder.threads),
        "peak_memory_gb": {"target_process": peak_memory_gb(decoder.target.device)},
        "prompt_padding": dict(decoder.pair.prompt_tokens), "max_k": max_k, "seed": seed,
        "max_new_tokens": max_new_tokens, "random_weights": profile.models.random_weights is not None,
        "costs": eager, "static_costs": static,
        # the static step's (a CUDA graph on a GPU) cost over the eager step's, per call
        "static_over_eager": {"decode": static["decode_s"] / eager["decode_s"],
                              "verify": {k: static["verify_s"][k] / eager["verify_s"][k] for k in eager["verify_s"]}},
    }


def target_costs(decoder: Decoder, inputs: list, max_k: int, max_new_tokens: int, repeats: int) -> dict:
    """Per-call costs of the decoder's target alone and beside the draft VLM, and its greedy exact match."""
    alone = per_call_costs(decoder, inputs[0], max_k)
    beside = draft_contention(decoder, inputs[0], max_k, repeats)
    return {**alone, "beside_draft": beside, "draft_slowdown": contention_slowdown(alone, beside),
            "greedy_exact_match": greedy_exact_match(decoder, inputs, max_new_tokens)}


ALONE_ON_THE_CORES = ("ar-loop", "prompt-lookup", "b1")  # no draft process runs beside these


def in_loop_costs(runs: list[dict]) -> dict:
    """Per-call costs as the loop paid them: the median seconds of a verify forward over k tokens
    (k = 1 + drafts; `decode_s` is k = 1), from the methods with no draft process, and the mean
    seconds of a head step, from the runs whose decode phase had no draft process beside it (b1
    for B1; `prefill-only`, whose draft VLM stops when the target's prefill ends, for L5F)."""
    by_k: dict[int, list[float]] = {}
    head_time: dict[str, list[float]] = {}
    for run in runs:
        stats = run["stats"]
        if run["method"] in ALONE_ON_THE_CORES:
            for proposed, seconds in zip(stats["proposed_per_round"], stats["verify_s_per_round"]):
                by_k.setdefault(1 + proposed, []).append(seconds)
        if stats.get("head_calls") and (run["method"] == "b1" or run["policy"] == "prefill-only"):
            total = head_time.setdefault(stats["head"], [0.0, 0])
            total[0] += stats["head_s"]
            total[1] += stats["head_calls"]
    verify = {str(k): statistics.median(times) for k, times in sorted(by_k.items())}
    return {"decode_s": verify.get("1"), "verify_s": verify,
            "forwards": {str(k): len(times) for k, times in sorted(by_k.items())},
            "head_step_s": {name: seconds / calls for name, (seconds, calls) in head_time.items()}}


# -- summaries ------------------------------------------------------------------------------------

def summarise(runs: list[dict], costs: dict) -> dict:
    reference = {r["sample"]: r for r in runs if r["label"] == "ar"}
    ar_wall = sum(r["wall_s"] for r in reference.values())
    loop_wall = {r["sample"]: r["wall_s"] for r in runs if r["label"] == "ar-loop"}
    ar_decode = {r["sample"]: decode_phase_s(r["stats"]) for r in reference.values() if has_spans(r["stats"])}
    loop_decode = {r["sample"]: decode_phase_s(r["stats"]) for r in runs if r["label"] == "ar-loop"}
    summary = {}
    for name in dict.fromkeys(r["label"] for r in runs):
        own = [r for r in runs if r["label"] == name]
        wall = sum(r["wall_s"] for r in own)
        per_sample = [reference[r["sample"]]["wall_s"] / r["wall_s"] for r in own]
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


def loop_cost(costs: dict, k: str) -> float:
    """t_verify(k) as the loop paid it in this run where measured, else the call timed alone."""
    return (costs.get("in_loop") or {}).get("verify_s", {}).get(k) or costs["verify_s"][k]


def loop_head_cost(costs: dict, head: str) -> float:
    """A head step as the loop paid it in this run where measured, else the step timed alone."""
    return (costs.get("in_loop") or {}).get("head_step_s", {}).get(head) or costs["head_step_s"][head]


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
        return tau * loop_cost(costs, "1") / (loop_cost(costs, str(gamma + 1)) + gamma * head_s)

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
