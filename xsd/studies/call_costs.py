"""What each call of the live decoder costs: the target's prefill, a decode step, a verify forward
over k tokens, a head step, each timed alone (medians of repeated calls on a sample's real
context) and beside the draft VLM working in its own process; and the same calls as the loop paid
them inside a benchmark run (`in_loop_costs`). `bench_costs` (`xsd bench decode --costs-only`)
measures them on any profile, `shapes` included, and writes what a costs file carries.
"""
from __future__ import annotations

import statistics

import torch

from xsd.config import Profile
from xsd.decode.methods import Decoder, static_target


def _median_s(call, device, repeats: int = 15) -> float:
    from xsd.studies.stage_timings import median_seconds

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
        args = head.inputs(hidden, hidden)

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


def bench_costs(profile: Profile, device=None, draft_device=None, max_k: int = 8, samples: int = 2,
                max_new_tokens: int | None = None, prompt_tokens: dict | None = None, repeats: int = 5,
                seed: int = 0, progress: bool = True) -> dict:
    """Per-call costs only (`xsd bench decode --costs-only`): the target's prefill, decode step,
    verify(k) for k = 1..max_k and the heads' steps, alone and with the draft VLM beside the target,
    and the greedy exact match of ar-loop and b1 against `generate` on `samples` test samples. Runs
    on any profile, `shapes` included, whose random weights make acceptance meaningless: no
    acceptance or speedup is reported, only costs, which is what a costs file carries."""
    from xsd.device import describe, peak_memory_gb
    from xsd.pipeline import ensure_decoder
    from xsd.studies.benchmark_inputs import test_inputs

    max_new_tokens = profile.extract.max_new_tokens if max_new_tokens is None else max_new_tokens
    decoder = ensure_decoder(profile, ("ar", "ar-loop", "b1", "l5f"), device=device, draft_device=draft_device,
                             prompt_tokens=prompt_tokens, progress=progress)
    try:
        _, inputs = test_inputs(profile, samples, seed + 1, progress=progress)
        eager = target_costs(decoder, inputs, max_k, max_new_tokens, repeats)
        decoder.target = static_target(decoder.pair, profile.models.video_frames, profile.extract.max_new_tokens, max_k)
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


def loop_cost(costs: dict, k: str) -> float:
    """t_verify(k) as the loop paid it in this run where measured, else the call timed alone."""
    return (costs.get("in_loop") or {}).get("verify_s", {}).get(k) or costs["verify_s"][k]


def loop_head_cost(costs: dict, head: str) -> float:
    """A head step as the loop paid it in this run where measured, else the step timed alone."""
    return (costs.get("in_loop") or {}).get("head_step_s", {}).get(head) or costs["head_step_s"][head]
