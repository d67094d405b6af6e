"""`xsd book`: run every study on a profile, write the reproducibility page, build the book.

The studies and their order come from the book's table of contents (`_toc.yml`): every entry
`book/NAME` with a notebook `notebooks/NAME.py` is a study. The book is Jupyter Book 1, built
offline from the executed notebooks (`execute_notebooks: off`) in strict mode.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml

from xsd import paths
from xsd.device import cpu_summary
from xsd.runner import RunRecord, load_records, prepare_book, run_notebook

TOC = paths.REPO / "_toc.yml"
BUILD_DIR = paths.REPO / "_build"
REPRODUCIBILITY_PAGE = "reproducibility.md"
REPORTED_PACKAGES = (
    "xsd", "torch", "transformers", "tokenizers", "safetensors", "bitsandbytes", "numpy", "pandas",
    "matplotlib", "seaborn", "av", "h5py", "papermill", "jupytext", "nbval", "jupyter-book", "sphinx",
)


def toc_entries() -> list[str]:
    """Every `file:` entry of the table of contents, in reading order."""
    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                yield node["file"]
            if "root" in node:
                yield node["root"]
            for value in node.values():
                if isinstance(value, (list, dict)):
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return list(walk(yaml.safe_load(TOC.read_text())))


def studies() -> list[str]:
    """The studies the book shows, in order: toc entries backed by a notebook."""
    names = [Path(entry).name for entry in toc_entries()]
    return [name for name in names if (paths.NOTEBOOKS / f"{name}.py").is_file()]


def study_parameters(name: str, profile: str) -> dict:
    """Parameters a study takes from earlier measurements: the speed-ratio study's c comes from
    the stage benchmark of the profile's own models."""
    if name == "speed_ratio":
        from xsd.config import load_profile
        from xsd.studies.stage_timings import measured_c

        c, source = measured_c(load_profile(profile))
        return {"measured_c": round(c, 4), "measured_c_source": source}
    return {}


def run_studies(profile: str, only: list[str] | None = None) -> list[RunRecord]:
    names = [name for name in studies() if not only or name in only]
    records = []
    for index, name in enumerate(names, 1):
        print(f"[{index}/{len(names)}] {name} (profile {profile})", flush=True)
        record = run_notebook(name, profile, study_parameters(name, profile))
        print(f"[{index}/{len(names)}] {name}: {record.wall_s:.1f} s", flush=True)
        records.append(record)
    return records


def write_reproducibility_page(profile: str, records: list[RunRecord],
                               steps: list[tuple[str, float]] | None = None) -> Path:
    from xsd.config import fingerprint, load_profile

    settings = load_profile(profile)
    lines = [
        "# Reproducibility",
        "",
        "This page is written anew by `xsd book` on every build. It records what produced the",
        "numbers in this book: the profile, the code revision, the package versions, the machine,",
        "and the run of each study notebook.",
        "",
        "## Profile",
        "",
        f"- name: `{settings.name}` (fingerprint `{fingerprint(settings)}`), seed {settings.seed}",
        f"- {settings.description}",
        "",
        "```yaml",
        Path(settings.source).read_text().strip(),
        "```",
        "",
        "## Code and machine",
        "",
        f"- git revision: `{_git_revision()}`",
        f"- built: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- Python {platform.python_version()} on {platform.platform()}",
        f"- CPU: {cpu_summary()}",
        f"- CPU cores: {os.cpu_count()}; torch intra-op threads: {_torch_threads()}",
        "",
        "## Packages",
        "",
        "| package | version |",
        "|---|---|",
        *[f"| {name} | {_version(name)} |" for name in REPORTED_PACKAGES],
        "",
        "## Study runs",
        "",
        "| notebook | profile | wall time (s) | started | seed | parameters |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r.notebook} | {r.profile} | {r.wall_s:.1f} | {r.started} | {r.seed} | "
            f"{', '.join(f'`{k}={v!r}`' for k, v in r.parameters.items())} |"
            for r in records
        ],
        "",
        f"Total notebook time: {sum(r.wall_s for r in records):.1f} s.",
        "",
        *_steps_section(steps),
    ]
    path = paths.ensure(paths.book_dir()) / REPRODUCIBILITY_PAGE
    path.write_text("\n".join(lines))
    return path


def _steps_section(steps: list[tuple[str, float]] | None) -> list[str]:
    if not steps:
        return []
    return [
        "## Pipeline steps of this build",
        "",
        "What `xsd book` ran before the notebooks; a step whose results were already cached takes",
        "well under a second.",
        "",
        "| step | wall time (s) |",
        "|---|---|",
        *[f"| {name} | {seconds:.1f} |" for name, seconds in steps],
        "",
    ]


def build_html(strict: bool = True) -> Path:
    """Build the book with Jupyter Book 1; raises CalledProcessError on any warning when strict."""
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(paths.REPO),
               "--path-output", str(BUILD_DIR.parent)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    subprocess.run(command, check=True)
    return BUILD_DIR / "html" / "index.html"


def _git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=paths.REPO, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=paths.REPO, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{rev} (with uncommitted changes)" if dirty else rev


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _torch_threads() -> str:
    try:
        import torch
    except ImportError:
        return "torch not installed"
    return str(torch.get_num_threads())


# -- command line ---------------------------------------------------------------------------------

def add_commands(subparsers) -> None:
    from xsd.cli import add_profile_argument

    parser = subparsers.add_parser(
        "book", help="run every study on a profile and build the book",
        description="Run every study notebook listed in _toc.yml on the profile (papermill, into "
        "book/), write the reproducibility page, then build the HTML book with Jupyter Book "
        "into _build/html (offline, strict: any warning fails the build).",
    )
    add_profile_argument(parser)
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these studies")
    parser.add_argument("--no-run", action="store_true",
                        help="do not run the studies; build from the notebooks already in book/")
    parser.add_argument("--no-build", action="store_true", help="run the studies but do not build the HTML")
    parser.set_defaults(handler=_book_command)


def _book_command(args) -> int:
    import papermill

    from xsd.config import load_profile

    profile = load_profile(args.profile).name
    start = time.perf_counter()
    steps = None
    if not args.no_run:
        steps = prepare_book(load_profile(args.profile))
        try:
            run_studies(args.profile, args.only)
        except papermill.PapermillExecutionError as error:
            print(f"xsd book: a study failed in cell {error.exec_count}: {error.ename}: {error.evalue}")
            return 1
    records = [r for r in load_records(profile) if r.notebook in studies()]
    missing = sorted(set(studies()) - {r.notebook for r in records})
    if missing:
        print(f"xsd book: no run of {', '.join(missing)} on profile {profile}; run without --no-run")
        return 1
    print(f"reproducibility page: {write_reproducibility_page(profile, records, steps)}")
    if not args.no_build:
        try:
            index = build_html()
        except subprocess.CalledProcessError:
            print("xsd book: the book build failed (see the warnings above)")
            return 1
        print(f"book: {index}")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0
