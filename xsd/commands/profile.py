"""`xsd profile`: show a profile's settings."""
from __future__ import annotations

import dataclasses
import json


def add_commands(subparsers) -> None:
    from xsd.cli import add_profile_argument

    parser = subparsers.add_parser(
        "profile", help="print a profile's settings as JSON",
        description="Print the fully-resolved settings of a profile (after checking the file).",
    )
    add_profile_argument(parser)
    parser.set_defaults(handler=show_profile)


def show_profile(args) -> int:
    from xsd.config import fingerprint, load_profile

    profile = load_profile(args.profile)
    print(json.dumps({**dataclasses.asdict(profile), "fingerprint": fingerprint(profile)}, indent=2))
    return 0
