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
import traceback

COMMAND_MODULES = (
    "xsd.runner",      # xsd run, xsd golden
    "xsd.book",        # xsd book
    "xsd.commands.profile",   # xsd profile
    "xsd.commands.world",
    "xsd.commands.decode",    # xsd decode, xsd bench (decode + stages)
    "xsd.commands.models",
    "xsd.commands.extract",
    "xsd.commands.train",
)

DESCRIPTION = """\
Cross-modal speculative decoding as a reproducible artifact: an event-camera VLM (EventGPT)
drafts tokens for a video VLM (Video-LLaVA). Every command takes --profile: mini (default,
runs on a laptop CPU), smoke (tiny, for tests), full (the 7B models on DSEC, needs a GPU and
the weights) or shapes (the 7B architectures with random weights: costs on any GPU, no weights).
"""


# The errors the package raises on purpose, each for something the user can fix (a bad file, a
# missing step, a wrong setting): (module, class, exit code, label). One that reaches `main` ends the
# command with one line, `xsd: <label>: <message>` (the traceback only with --debug); exit code 2
# for a usage error (the command line, the profile, the device), 1 for data and models. Any other
# exception is a bug and keeps its traceback. The modules are not imported here (`xsd --help` stays
# fast): an error can only be raised once its module is loaded, so `sys.modules` has it then.
KNOWN_ERRORS = (
    ("xsd.config", "ProfileError", 2, "profile error"),
    ("xsd.device", "DeviceError", 2, "device error"),
    ("xsd.world.layout", "DataError", 1, "data error"),
    ("xsd.store", "StoreError", 1, "store error"),
    ("xsd.fit", "CheckpointError", 1, "checkpoint error"),
    ("xsd.models.loading", "ModelLoadError", 1, "model error"),
    ("xsd.models.registry", "ModelsNotTrained", 1, "models not trained"),
    ("xsd.models.convert_eventgpt", "ConversionError", 1, "conversion error"),
    ("xsd.models.tokenizer", "VocabularyMismatch", 1, "vocabulary mismatch"),
    ("xsd.studies.costs_file", "CostsFileError", 1, "costs file error"),
)

DEBUG_HELP = "on an error, print the full traceback too (default: one line naming the problem)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xsd", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(subparsers)
    _add_debug_to_commands(parser)
    return parser


def _add_debug_to_commands(parser: argparse.ArgumentParser) -> None:
    """--debug after the command too (`xsd decode ... --debug`); absent there, it leaves the global value."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in {id(p): p for p in action.choices.values()}.values():
                command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
                _add_debug_to_commands(command)


def known_error(error: BaseException) -> tuple[int, str] | None:
    """(exit code, label) of an error the package raises on purpose; None for anything else."""
    for module_name, class_name, code, label in KNOWN_ERRORS:
        kind = getattr(sys.modules.get(module_name), class_name, None)
        if kind is not None and isinstance(error, kind):
            return code, label
    return None


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
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("xsd: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:
        known = known_error(error)
        if known is None:
            raise
        if args.debug:
            traceback.print_exc()
        code, label = known
        print(f"xsd: {label}: {error}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
