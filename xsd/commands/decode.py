"""`xsd decode` (one sample, one method) and `xsd bench decode` (every method, many samples)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from xsd.arguments import non_negative_float, non_negative_int, positive_int
from xsd.names import METHODS, PER_POSITION, POLICIES


def add_device_arguments(parser) -> None:
    from xsd.cli import add_device_argument

    add_device_argument(parser)
    parser.add_argument("--draft-device", default=None,
                        help="where the draft VLM's process runs (default: the same device as the target; "
                             "a second GPU, e.g. cuda:1, removes the two models' contention)")


def add_static_argument(parser) -> None:
    parser.add_argument("--static", action="store_true",
                        help="run the target's decode and verify steps over a static KV cache, replayed as one "
                             "CUDA graph per query length on a GPU (every method but ar, which stays transformers' "
                             "generate: compare with ar-loop then); --costs-only measures both ways regardless")


def add_commands(subparsers) -> None:
    from xsd.cli import add_profile_argument

    decode = subparsers.add_parser(
        "decode", help="decode one test sample with one method and print the result as JSON",
        description="Run one decoding method on one sample of the profile's test split and print one "
        "JSON object: the generated target-vocabulary token ids, the text, the wall time and the "
        "decoder's statistics (time per phase, free tokens from phase 1, drafts accepted per round, "
        "τ = tokens per verifying target forward including the target's own token).",
    )
    add_profile_argument(decode)
    decode.add_argument("--sample", required=True, help="sample id (e.g. seq0003/000001/q4) or index in the test split")
    decode.add_argument("--method", required=True, choices=METHODS)
    decode.add_argument("--max-new-tokens", type=positive_int,
                        help="at most this many tokens, ≥ 1 (default: the profile's extraction length)")
    decode.add_argument("--temperature", type=non_negative_float, default=0.0,
                        help="≥ 0; 0 (default) is greedy for every method")
    decode.add_argument("--seed", type=non_negative_int, default=0, help="sampling seed, ≥ 0 (default 0)")
    decode.add_argument("--gamma", type=positive_int, default=3, help="draft tokens per round, ≥ 1 (default 3)")
    decode.add_argument("--prefill-adapter", choices=PER_POSITION,
                        help="two-phase: phase-1 adapter (default: the one with most free tokens offline)")
    decode.add_argument("--policy", choices=POLICIES, default="wait",
                        help="when L5F needs an event state the draft has not produced yet: wait for it "
                        "(default), use a zero state (degrade), stop the draft when the target's "
                        "prefill ends and use zero states from then on (prefill-only), or wait but pause "
                        "the draft during every verify forward (pause-verify)")
    decode.add_argument("--json", action="store_true", help="print JSON (the only output format; kept for scripts)")
    add_device_arguments(decode)
    add_static_argument(decode)
    decode.set_defaults(handler=_decode)

    if "bench" not in subparsers.choices:
        from xsd.commands.models import add_bench_commands

        bench = subparsers.add_parser("bench", help="benchmarks (every timing states its thread settings)")
        group = bench.add_subparsers(title="bench commands", metavar="COMMAND")
        add_bench_commands(group)
        add_bench_decode(group)


def add_bench_decode(group) -> None:
    from xsd.cli import add_profile_argument

    bench = group.add_parser(
        "decode", help="every decoding method on the same test samples, one run",
        description="Warm-up, then every method (ar, ar-loop, prompt-lookup, b1, l5f, two-phase at "
        "each γ) on the same N test samples with the order rotated per sample. Writes per method: "
        "wall_s, tokens, speedup_vs_ar, tau, exact_match_rate, n_samples, per-phase times, "
        "per-position acceptance and the ceiling τ·t_decode/(t_verify(γ+1)+γ·t_head).",
    )
    add_profile_argument(bench)
    bench.add_argument("--n", type=positive_int, default=None, help="test samples, ≥ 1 (default 24; with --costs-only 2)")
    bench.add_argument("--gammas", type=positive_int, nargs="+", default=[2, 3, 4], help="γ values to sweep (each ≥ 1)")
    bench.add_argument("--policies", choices=POLICIES, nargs="+", default=list(POLICIES),
                       help="what l5f and two-phase do when the draft VLM's state is not there yet: wait "
                            "for it, degrade (zero row), prefill-only (the draft VLM stops when the "
                            "target's prefill ends) or pause-verify (wait, the draft VLM paused during "
                            "every verify forward); each is benchmarked (default: all four)")
    bench.add_argument("--max-new-tokens", type=positive_int,
                       help="at most this many tokens, ≥ 1 (default: the profile's extraction length)")
    from xsd.world.qa import QTYPES

    bench.add_argument("--qtypes", nargs="+", default=[], choices=QTYPES, metavar="QTYPE",
                       help="only test samples of these question types (describe has the longest answers); "
                            f"one or more of {', '.join(QTYPES)}; default: every type")
    bench.add_argument("--json", type=Path, required=True, help="where to write the results")
    add_device_arguments(bench)
    add_static_argument(bench)
    bench.add_argument("--costs-only", action="store_true",
                       help="measure per-call costs only: the target's prefill, decode step, verify(k) for "
                            "k = 1..--max-k and the heads' steps, alone and with the draft VLM beside it, plus "
                            "greedy exact match against generate on --n samples (default 2 here); writes a "
                            "costs file the studies read (the only mode for shapes, whose random weights "
                            "make acceptance meaningless)")
    bench.add_argument("--max-k", type=positive_int, default=8, help="--costs-only: largest verify forward, ≥ 1 (default 8)")
    from xsd.commands.models import add_prompt_tokens_argument

    add_prompt_tokens_argument(bench)
    bench.set_defaults(handler=_bench)


def _decode(args) -> int:
    from xsd.config import load_profile
    from xsd.pipeline import ensure_decoder, ensure_world
    from xsd.world.dataset import WorldDataset

    profile = load_profile(args.profile)
    dataset = WorldDataset(ensure_world(profile), "test", event_frames=profile.models.event_frames)
    sample = _find(dataset, args.sample)
    if sample is None:
        print(f"xsd decode: no test sample {args.sample!r} (give an id such as {dataset[0].id} or an index "
              f"below {len(dataset)})", file=sys.stderr)
        return 2
    prefill_adapter = args.prefill_adapter
    if args.method == "two-phase" and not prefill_adapter and profile.models.random_weights is None:
        from xsd.studies.feature_adapters import best_prefill_adapter

        prefill_adapter = best_prefill_adapter(profile)
    decoder = ensure_decoder(profile, (args.method,), gamma=args.gamma, policy=args.policy,
                             prefill_adapter=prefill_adapter, device=args.device, draft_device=args.draft_device,
                             static=args.static)
    try:
        result = decoder.run(args.method, dataset.event_frames(sample), dataset.video_frames(sample),
                             sample.question,
                             profile.extract.max_new_tokens if args.max_new_tokens is None else args.max_new_tokens,
                             args.temperature, args.seed)
    finally:
        decoder.close()
    from xsd.device import describe

    measured_on = describe(decoder.target.device, decoder.target.model.dtype, decoder.threads)
    print(json.dumps({"sample": sample.id, "question": sample.question, **result, "threads": decoder.threads,
                      "measured_on": measured_on}))
    return 0


def _find(dataset, key: str):
    if key.isdigit():
        return dataset[int(key)] if int(key) < len(dataset) else None
    return next((s for s in dataset.samples if s.id == key), None)


def _bench(args) -> int:
    from xsd.config import load_profile
    from xsd.studies.live_wallclock import bench_decode

    profile = load_profile(args.profile)
    if args.costs_only:
        return _bench_costs(args, profile)
    if profile.models.random_weights is not None:
        print(f"xsd bench decode: profile {profile.name} has random weights, so acceptance and speedups mean "
              f"nothing there; run with --costs-only", file=sys.stderr)
        return 2
    result = bench_decode(profile, n=args.n or 24, gammas=tuple(args.gammas), policies=tuple(args.policies),
                          max_new_tokens=args.max_new_tokens, qtypes=tuple(args.qtypes), device=args.device,
                          draft_device=args.draft_device, static=args.static)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    for name, entry in result["methods"].items():
        extra = f", τ {entry['tau']:.2f}" if "tau" in entry else ""
        over_loop = entry.get("speedup_vs_ar_loop")
        loop_text = f", {over_loop:.2f}× vs ar-loop" if over_loop else ""
        print(f"{name:>16}: {entry['speedup_vs_ar']:.2f}× vs ar{loop_text}, exact match "
              f"{entry['exact_match_rate']:.0%}{extra}")
    print(f"results: {args.json}")
    return 0


def _bench_costs(args, profile) -> int:
    from xsd.studies.call_costs import bench_costs
    from xsd.commands.models import prompt_lengths

    n = args.n or 2
    result = bench_costs(profile, device=args.device, draft_device=args.draft_device, max_k=args.max_k, samples=n,
                         max_new_tokens=args.max_new_tokens, prompt_tokens=prompt_lengths(args))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    costs, on = result["costs"], result["measured_on"]
    print(f"measured on {on['device']} ({on['device_name']}), {on['dtype']}; prompt {costs['prompt_tokens']} tokens")
    print(f"prefill {1000 * costs['prefill_s']:.1f} ms")
    print("head steps: " + ", ".join(f"{name} {1000 * v:.2f} ms" for name, v in costs["head_step_s"].items()))
    for name, entry in (("eager", costs), ("static", result["static_costs"])):
        slowdown = entry["draft_slowdown"]
        print(f"{name}: decode step {1000 * entry['decode_s']:.2f} ms, "
              + ", ".join(f"verify({k}) {1000 * v:.2f} ms" for k, v in entry["verify_s"].items()))
        print(f"{name}, the draft VLM beside the target: prefill {slowdown['prefill']:.2f}x, decode "
              f"{slowdown['decode']:.2f}x, " + ", ".join(f"verify({k}) {v:.2f}x" for k, v in slowdown["verify"].items())
              + f"; {entry['beside_draft']['draft_tokens_at_prefill_end']:.1f} draft tokens ready when the prefill ended")
        for method, match in entry["greedy_exact_match"].items():
            print(f"{name}, greedy {method} vs generate: {match['matched']}/{match['samples']} samples identical")
    print(f"results: {args.json}")
    return 0
