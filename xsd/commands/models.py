"""`xsd models ...` (convert, check, train, base, eval, probe) and `xsd bench stages`.

`add_bench_commands(bench_subparsers)` adds `stages` to an existing `xsd bench` group, so other
parts can put their benchmarks beside it.
"""
from __future__ import annotations

import sys
from pathlib import Path

from xsd.arguments import non_negative_int, positive_int


def add_commands(subparsers) -> None:
    from xsd.cli import add_profile_argument

    models = subparsers.add_parser("models", help="the draft (EventGPT) and target (Video-LLaVA) VLMs")
    commands = models.add_subparsers(title="models commands", metavar="COMMAND")

    convert = commands.add_parser(
        "convert-eventgpt", help="convert an original EventGPT checkpoint into the Llava layout",
        description="Rename EventGPT's keys to LlavaForConditionalGeneration's and fold its feature "
                    "adaptor into the projector; writes a folder `from_pretrained` reads.",
    )
    convert.add_argument("source", help="folder of the original EventGPT checkpoint (config.json + weights)")
    convert.add_argument("destination", help="folder to write the converted checkpoint to")
    convert.set_defaults(handler=convert_eventgpt)

    check = commands.add_parser(
        "check", help="load the profile's two models and report their sizes",
        description="Load both models of a profile (full: from the local paths, 4-bit if set) and print "
                    "their vocabularies, visual token counts and parameter counts.",
    )
    add_profile_argument(check)
    check.set_defaults(handler=check_models)
    if "bench" not in subparsers.choices:
        add_bench_group(subparsers)

    training = commands.add_parser(
        "train", help="train the profile's mini models from its world (resumable)",
        description="Stage A: each vision tower on dense scene attributes of its modality; stage B: "
                    "cache the frozen tower's features; stage C: projector + LLM instruction tuning in "
                    "the side's own answer style. Draft and target train side by side. Rerun after an "
                    "interruption to continue. Writes the pair and training.json (times, peak memory) "
                    "under XSD_MODELS/<profile>/<config fingerprint>.",
    )
    add_profile_argument(training)
    training.add_argument("--jobs", type=int, default=2, choices=(1, 2),
                          help="processes: 2 trains both sides at once (default), 1 one after the other")
    training.set_defaults(handler=train_models)

    base = commands.add_parser(
        "base", help="train only the shared base LLM, then ask it the test questions with each scene in words",
        description="Trains the profile's shared base LLM alone (or resumes it, or finds it finished): the language "
                    "model both VLMs start stage C from, in the checkpoint folder that `xsd models train` then "
                    "completes. Then asks it each side's test questions with the clip's scene told in words where "
                    "the visual tokens go (the description reading of the world & models study) and reports key-fact "
                    "accuracy per question type, and over the class questions by how many road users of the asked "
                    "class the side's view holds. On mini the base LLM trains in 11-15 minutes on one core, by CPU (the "
                    "whole pair in 19-22 on two): for trying a change to the base LLM's recipe (a profile file with "
                    "other `base_*` settings).",
    )
    add_profile_argument(base)
    base.add_argument("--limit", type=non_negative_int, default=40,
                      help="at most this many questions per type and side (default 40, as the book; 0: all)")
    base.add_argument("--jobs", type=int, default=2, choices=(1, 2),
                      help="processes for the questions: 2 asks both sides' at once (default)")
    base.add_argument("--json", type=Path, help="write the training report and the reading to this file")
    base.set_defaults(handler=base_llm)

    evaluation = commands.add_parser(
        "eval", help="key-fact accuracy per question type of both trained models on the test split",
        description="Both models answer the test questions their modality can answer (greedy); each answer "
                    "is graded against the sample's key facts. Reports accuracy per question type and "
                    "the mean over the graded questions, per model.",
    )
    add_profile_argument(evaluation)
    evaluation.add_argument("--json", type=Path, help="write the result to this file")
    evaluation.add_argument("--limit", type=non_negative_int, default=0,
                            help="at most this many questions per type and model (default 0: all)")
    evaluation.add_argument("--jobs", type=int, default=2, choices=(1, 2),
                            help="processes: 2 evaluates both models at once (default)")
    from xsd.cli import add_device_argument

    add_device_argument(evaluation)
    evaluation.set_defaults(handler=eval_models)

    probe = commands.add_parser(
        "probe", help="how much of what each trained tower knows one attention read of its tokens takes",
        description="Fits two probes to each side's cached tower features (stage B, the first frame of every "
                    "train clip) and scores them on the last train clips, held out from the fit: a linear map "
                    "of all tokens, as stage A's heads read them, and one attention layer, as an LLM reads "
                    "them. Reports each lane's class and colour (target) or motion (draft) accuracy. "
                    "Needs the profile's trained models; takes about a minute per side on one thread.",
    )
    add_profile_argument(probe)
    probe.add_argument("--json", type=Path, help="write the result to this file")
    probe.add_argument("--held-out", type=positive_int, default=150,
                       help="train clips held out from the fit and scored, ≥ 1 (default 150)")
    probe.add_argument("--steps", type=positive_int, default=1500, help="fitting steps per probe, ≥ 1 (default 1500)")
    probe.set_defaults(handler=probe_towers)


def add_bench_commands(bench_subparsers) -> None:
    """`stages` inside the `xsd bench` group."""
    from xsd.cli import add_device_argument, add_profile_argument

    stages = bench_subparsers.add_parser(
        "stages", help="time vision encoding, projector, LLM prefill and decode of both models",
        description="For both models on one test sample: warm-up, then the median of each stage over "
                    "rounds that run every stage of both models once; derives c = decode_draft / "
                    "decode_target and the prefill ratio, and compares "
                    "1 with 8 video frames (target) and 1 with 5 event frames (draft).",
    )
    add_profile_argument(stages)
    stages.add_argument("--json", type=Path, help="write the result to this file")
    stages.add_argument("--threads", type=positive_int, default=1, help="torch intra-op threads, ≥ 1 (default 1)")
    stages.add_argument("--repeats", type=positive_int, default=30,
                        help="timed rounds, each running every stage of both models once, ≥ 1 (default 30)")
    stages.add_argument("--decode-tokens", type=positive_int, default=20, help="decode steps per repeat, ≥ 1 (default 20)")
    add_device_argument(stages)
    add_prompt_tokens_argument(stages)
    stages.set_defaults(handler=bench_stages)


def add_prompt_tokens_argument(parser) -> None:
    parser.add_argument(
        "--prompt-tokens", type=positive_int, nargs=2, metavar=("TARGET", "DRAFT"),
        help="pad the target's and the draft's prompts with text tokens to these lengths (the study's "
             "fork logged 4643 and 636); default: the profile's setting (shapes), else the prompts as built")


def add_bench_group(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks (timings are stated with their thread settings)")
    add_bench_commands(bench.add_subparsers(title="bench commands", metavar="COMMAND"))


def train_models(args) -> int:
    import json

    from xsd.config import load_profile
    from xsd.models.mini_training import train_pair
    from xsd.models.registry import ModelsNotTrained

    try:
        report = train_pair(load_profile(args.profile), jobs=args.jobs)
    except ModelsNotTrained as error:
        print(f"xsd: {error}", file=sys.stderr)
        return 1
    print(json.dumps(training_summary(report), indent=2))
    return 0


def training_summary(report: dict) -> dict:
    sides = report["sides"]
    return {
        "checkpoint": report["checkpoint"],
        "wall_seconds": round(report["wall_seconds"], 1),
        "seconds_per_side": {s: round(r["seconds"], 1) for s, r in sides.items()},
        "peak_rss_mb": {k: round(v) for k, v in report["peak_rss_mb"].items()},
        "tower_test_accuracy": {s: r["tower"]["test_accuracy"] for s, r in sides.items()},
        "final_tuning_loss": {s: round(r["tune"]["final_loss"], 4) for s, r in sides.items()},
    }


def probe_towers(args) -> int:
    import json

    import torch

    from xsd.config import SIDES, load_profile
    from xsd.models.probe import PROBES, probe_side
    from xsd.models.registry import ModelsNotTrained, trained_checkpoint

    torch.set_num_threads(1)
    profile = load_profile(args.profile)
    try:
        directory = trained_checkpoint(profile)
    except ModelsNotTrained as error:
        print(f"xsd: {error}", file=sys.stderr)
        return 1
    result = {"profile": profile.name, "checkpoint": str(directory),
              **{side: probe_side(profile, side, directory, args.held_out, args.steps) for side in SIDES}}
    for side in SIDES:
        for name in PROBES:
            scores = result[side][name]
            print(f"{side:6} {name:9}  lane class {listed(scores['class'], scores['class_mean'])}   "
                  f"attribute {listed(scores['attr'], scores['attr_mean'])}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def listed(scores: list[float], mean: float | None) -> str:
    """'0.81 0.69 - 0.75 (mean 0.75)': '-' for a lane no held-out clip shows."""
    def shown(value):
        return "-" if value is None else f"{value:.2f}"
    return " ".join(shown(v) for v in scores) + f" (mean {shown(mean)})"


def base_llm(args) -> int:
    import json

    from xsd.config import load_profile
    from xsd.models.mini_sides import side_logger
    from xsd.models.mini_training import train_base_only
    from xsd.models.registry import ModelsNotTrained
    from xsd.studies.description_reading import description_reading

    profile = load_profile(args.profile)
    try:
        report = train_base_only(profile, log=side_logger("base"))
    except ModelsNotTrained as error:
        print(f"xsd: {error}", file=sys.stderr)
        return 1
    print(f"base LLM: {report['steps']} steps of {profile.models.train.base_batch} conversations, final loss "
          f"{report['final_loss']:.4f}, {report['seconds']:.0f} s")
    reading = description_reading(profile, limit=args.limit or None, jobs=args.jobs)
    print(f"told each test clip's scene in words ({args.limit or 'all'} questions per type):")
    for side in ("draft", "target"):
        print(reading_line(side, reading[side]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"base_llm": report, "reading": reading}, indent=2) + "\n")
    return 0


def reading_line(side: str, result: dict) -> str:
    """'target  80.0%  colour 52% count 100% ...  | absent 20% (59) one 79% (114) several 67% (27)'."""
    types = " ".join(f"{q} {v['accuracy']:.0%}" for q, v in result["per_qtype"].items())
    split = " ".join(f"{k} {v['accuracy']:.0%} ({v['n']})" for k, v in result["by_asked_in_view"].items())
    return f"  {side:6}  {result['mean']:.1%}  {types}  | {split}"


def eval_models(args) -> int:
    from xsd.config import load_profile
    from xsd.models.registry import ModelsNotTrained
    from xsd.studies.model_accuracy import evaluate_profile

    try:
        result = evaluate_profile(load_profile(args.profile), limit=args.limit or None, jobs=args.jobs,
                                  device=args.device)
    except ModelsNotTrained as error:
        print(f"xsd: {error}", file=sys.stderr)
        return 1
    write_result(result, args.json)
    return 0


def bench_stages(args) -> int:
    from xsd.config import load_profile
    from xsd.models.registry import ModelsNotTrained
    from xsd.studies.stage_timings import profile_stage_timings

    try:
        result = profile_stage_timings(load_profile(args.profile), threads=args.threads,
                                       repeats=args.repeats, decode_tokens=args.decode_tokens,
                                       device=args.device, prompt_tokens=prompt_lengths(args))
    except ModelsNotTrained as error:
        print(f"xsd: {error}", file=sys.stderr)
        return 1
    write_result(result, args.json)
    return 0


def prompt_lengths(args) -> dict | None:
    """{side: tokens} from --prompt-tokens TARGET DRAFT, or None."""
    if not args.prompt_tokens:
        return None
    target, draft = args.prompt_tokens
    if target < 1 or draft < 1:
        raise SystemExit(f"xsd: --prompt-tokens must be positive, got {target} {draft}")
    return {"target": target, "draft": draft}


def write_result(result: dict, path) -> None:
    import json

    text = json.dumps(result, indent=2)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    print(text)


def convert_eventgpt(args) -> int:
    from xsd.models.convert_eventgpt import ConversionError, convert_checkpoint

    try:
        destination = convert_checkpoint(args.source, args.destination)
    except ConversionError as error:
        print(f"xsd: {error}")
        return 1
    print(f"converted {args.source} → {destination}")
    return 0


def check_models(args) -> int:
    import json

    from xsd.config import load_profile
    from xsd.models.eventgpt import event_token_count
    from xsd.models.loading import ModelLoadError, load_pretrained_pair
    from xsd.models.videollava import video_token_count

    profile = load_profile(args.profile)
    models = profile.models
    if models.random_weights is not None:
        from xsd.models.shapes import parameter_counts

        print(json.dumps({**parameter_counts(profile), "weights": "random (built on the meta device here)"}, indent=2))
        return 0
    if models.trained_here:
        print(f"xsd: profile {profile.name} has no pretrained checkpoints; its models are trained here")
        return 1
    try:
        pair = load_pretrained_pair(models.pretrained)
    except ModelLoadError as error:
        print(f"xsd: {error}")
        return 1
    print(json.dumps({
        "draft_vocab": pair.draft.config.text_config.vocab_size,
        "target_vocab": pair.target.config.text_config.vocab_size,
        "shared_vocab": pair.vocabulary().size,
        "draft_visual_tokens": event_token_count(pair.draft.config, models.event_frames),
        "target_visual_tokens": video_token_count(pair.target.config, models.video_frames),
        "draft_parameters": pair.draft.num_parameters(),
        "target_parameters": pair.target.num_parameters(),
    }, indent=2))
    return 0
