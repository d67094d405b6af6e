"""The `xsd` command line. Each part of the pipeline registers its own commands.

Every module named in COMMAND_MODULES exposes `add_commands(subparsers)`, which adds its
sub-commands with their help and sets `handler` (a function taking the parsed args and
returning an exit code). Keep those modules light to import: heavy imports belong inside
the handlers, so that `xsd --help` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "xsd.runner",      # xsd run, xsd golden
    "xsd.book",        # xsd book
    "xsd.profile_cli", # xsd profile
    "xsd.world.cli",
    "xsd.decode.cli",  # xsd decode, xsd bench (decode + stages)
    "xsd.models.cli",
    "xsd.pipeline_cli",  # xsd extract, xsd train
)

DESCRIPTION = """\
Cross-modal speculative decoding as a reproducible artifact: an event-camera VLM (EventGPT)
drafts tokens for a video VLM (Video-LLaVA). Every command takes --profile: mini (default,
runs on a laptop CPU), smoke (tiny, for tests), full (the 7B models on DSEC, needs a GPU and
the weights) or shapes (the 7B architectures with random weights: costs on any GPU, no weights).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xsd", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(subparsers)
    return parser


def add_profile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile", default="mini",
        help="profile name (mini, smoke, full) or path of a profile .yaml file (default: mini)",
    )


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", default=None,
        help="where the models run: cpu, cuda, cuda:N or auto (default: the profile's models.device; auto "
             "is CUDA when present for full and shapes, the CPU for mini and smoke)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    from xsd.config import ProfileError
    from xsd.device import DeviceError

    try:
        return int(args.handler(args) or 0)
    except ProfileError as error:
        print(f"xsd: profile error: {error}", file=sys.stderr)
        return 2
    except DeviceError as error:
        print(f"xsd: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xsd: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
