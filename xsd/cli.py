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
runs on a laptop CPU), smoke (tiny, for tests) or full (the 7B models on DSEC, needs a GPU).
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    from xsd.config import ProfileError

    try:
        return int(args.handler(args) or 0)
    except ProfileError as error:
        print(f"xsd: profile error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xsd: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
