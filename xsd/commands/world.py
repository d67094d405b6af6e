"""Commands `xsd world build` and `xsd data import-dsec | import-recording | check`.

Heavy imports (h5py, av, the builders) happen inside the handlers, so `xsd --help` stays fast.
"""
from __future__ import annotations

import sys
from pathlib import Path

from xsd.arguments import fraction, positive_int


def add_commands(subparsers) -> None:
    from xsd.cli import add_profile_argument

    world = subparsers.add_parser("world", help="build the procedural mini world",
                                  description="The mini world: procedural driving clips with simulated events.")
    world_sub = world.add_subparsers(title="world commands", metavar="COMMAND")
    build = world_sub.add_parser(
        "build", help="build (or resume building) the world of a profile",
        description="Render the profile's world, simulate its events and write clips, videos, questions "
                    "and splits in the study's layout. Resumable: rerun the same command after an "
                    "interruption. Deterministic: the same profile and seed give the same files.")
    add_profile_argument(build)
    build.add_argument("--out", type=Path, help="dataset root (default: data/worlds/<profile>, "
                                                "under $XSD_DATA_ROOT if set)")
    build.add_argument("--force", action="store_true", help="rebuild from scratch, even over another world")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(handler=_build)

    data = subparsers.add_parser("data", help="import real event data, check a dataset root",
                                 description="Import event-camera data into the study's layout and check it.")
    data_sub = data.add_subparsers(title="data commands", metavar="COMMAND")
    dsec = data_sub.add_parser(
        "import-dsec", help="import DSEC sequences as 1 s clips with 50%% overlap",
        description="Read DSEC events.h5 (Blosc) and left rectified images of each sequence and write "
                    "1 s clips with 50%% overlap in the study's layout. A failing sequence is recorded "
                    "in the manifest with its reason; the others still import.")
    dsec.add_argument("--dsec-root", type=Path, required=True, help="directory holding one folder per sequence")
    dsec.add_argument("--out", type=Path, required=True, help="dataset root to write")
    dsec.add_argument("--sequences", nargs="+", help="sequence names (default: every sequence found)")
    dsec.add_argument("--test-fraction", type=fraction, default=0.2,
                      help="share of sequences in the test split, chosen by a hash of the name (default 0.2)")
    dsec.add_argument("--quiet", action="store_true", help="no progress bar")
    dsec.set_defaults(handler=_import_dsec)

    rec = data_sub.add_parser(
        "import-recording", help="import an event recording (.npy or .npz) with its video",
        description="EVENTS: an .npy holding a structured array with fields x, y, p (0/1), t (µs), or "
                    "an .npz of arrays x, y, p, t. Pickled files (e.g. a dict saved with np.save) are "
                    "refused, because loading them can run code. VIDEO: the time-aligned RGB or grey "
                    "video. Writes 1 s clips with 50% overlap and their event frames as sequence NAME.")
    rec.add_argument("--events", type=Path, required=True, help="events .npy or .npz file")
    rec.add_argument("--video", type=Path, required=True, help="video file (mp4 or anything PyAV reads)")
    rec.add_argument("--out", type=Path, required=True, help="dataset root to write (may hold other sequences)")
    rec.add_argument("--name", required=True, help="sequence name")
    rec.add_argument("--video-start-us", type=int, default=0,
                     help="time of the first video frame on the event clock, µs (default 0)")
    rec.add_argument("--sensor-size", type=positive_int, nargs=2, metavar=("W", "H"),
                     help="event sensor size (default: from the largest x and y, which must then lie inside "
                          "the video's frame)")
    rec.add_argument("--split", choices=("train", "test"), default="train", help="split of this sequence")
    rec.set_defaults(handler=_import_recording)

    check = data_sub.add_parser("check", help="validate a dataset root",
                                description="List every missing or corrupt file with the reason (index "
                                            "entries lacking a field, sequences without their meta, video or "
                                            "event files, unreadable files); exit code 1 if there is any. "
                                            "Warnings (an event sensor larger than its video) do not fail.")
    check.add_argument("root", type=Path, nargs="?", help="dataset root (default: the profile's world)")
    add_profile_argument(check)
    check.add_argument("--quiet", action="store_true", help="no progress bar")
    check.set_defaults(handler=_check)


def _build(args) -> int:
    from xsd import paths
    from xsd.config import load_profile
    from xsd.world.build import build_world
    from xsd.world.layout import DataError
    from xsd.world.summary import size_on_disk

    profile = load_profile(args.profile)
    if profile.world is None:
        print(f"xsd: profile {profile.name!r} has no world section (it reads real data; see "
              f"`xsd data import-dsec`)", file=sys.stderr)
        return 2
    out = args.out or paths.world_dir(profile.name)
    try:
        manifest = build_world(profile.world, profile.seed, out, force=args.force, progress=not args.quiet)
    except DataError as error:
        print(f"xsd: {error}", file=sys.stderr)
        return 1
    run = manifest["last_run"]
    size = size_on_disk(out)["total"]
    print(f"world {profile.name} at {out}: {len(manifest['sequences'])} sequences, {manifest['n_clips']} clips, "
          f"{manifest['n_samples']} samples, {size / 1e6:.1f} MB")
    print(f"this run: built {run['sequences_built']}, reused {run['sequences_reused']} in {run['wall_s']} s "
          f"(render {run['render_s']} s, simulate {run['simulate_s']} s, write {run['write_s']} s); "
          f"simulator: {run['events_simulated']} events, {run['simulator_events_per_s']:,} events/s")
    return _report_failures(manifest)


def _import_dsec(args) -> int:
    from xsd.world.dsec import import_dsec
    from xsd.world.layout import DataError

    try:
        manifest = import_dsec(args.dsec_root, args.out, args.sequences, args.test_fraction, not args.quiet)
    except DataError as error:
        print(f"xsd: {error}", file=sys.stderr)
        return 1
    print(f"{args.out}: {manifest['n_clips']} clips, {manifest['n_samples']} samples")
    return _report_failures(manifest)


def _import_recording(args) -> int:
    from xsd.world.layout import DataError
    from xsd.world.recording import import_recording

    try:
        manifest = import_recording(args.events, args.video, args.out, args.name, args.video_start_us,
                                    args.sensor_size, args.split)
    except DataError as error:
        print(f"xsd: {error}", file=sys.stderr)
        return 1
    last = manifest["last_import"]
    print(f"{args.out}: sequence {args.name}: {last['clips']} clips; skipped {len(last['skipped'])}")
    (width, height), (video_width, video_height) = last["sensor_size"], last["video_size"]
    if last["sensor_size_from"] != "--sensor-size":
        print(f"sensor size {width}x{height}, inferred from the events' extent (the video is "
              f"{video_width}x{video_height}); if the sensor is larger, rerun with --sensor-size W H")
    for entry in last["skipped"]:
        print(f"  skipped clip {entry['clip']}: {entry['reason']}")
    return 0


def _check(args) -> int:
    from xsd import paths
    from xsd.world.check import check_root

    root = args.root or paths.world_dir(args.profile)
    warnings = []
    problems = check_root(root, progress=not args.quiet, warnings=warnings)
    for line in problems:
        print(line)
    for line in warnings:
        print(f"warning: {line}")
    summary = "OK" if not problems else f"{len(problems)} problem(s)"
    print(f"{root}: {summary}" + (f", {len(warnings)} warning(s)" if warnings else ""))
    return 1 if problems else 0


def _report_failures(manifest: dict) -> int:
    for seq in manifest["failed"]:
        print(f"failed: {seq}: {manifest['sequences'][seq].get('reason')}", file=sys.stderr)
    return 1 if manifest["failed"] else 0


__all__ = ["add_commands"]
