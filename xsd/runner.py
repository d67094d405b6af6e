"""Running a study: papermill on a jupytext notebook, executed into the book.

Studies are the jupytext percent files in `notebooks/`. Each has a cell tagged `parameters`
(with at least `profile`); papermill injects the caller's values after it. The executed
notebook lands in `book/NAME.ipynb` and a run record (parameters, wall time, seed) in the
results cache, from which the book's reproducibility page is written.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from xsd import paths

GOLDEN_DIR = paths.REPO / "tests" / "golden"
GOLDEN_PROFILE = "smoke"
# Notebooks with a committed golden run that nbval re-executes and compares.
GOLDEN_STUDIES = ("world_models", "token_level", "speed_ratio", "feature_adapters", "offline_proxy", "live_wallclock")
# the most of a golden's code cells whose output nbval may ignore: the live study and the offline proxy
# tabulate wall-clock times measured in the run, and the token-level study's classic-SD tables rest
# on c, a ratio of such times; every other output of the smoke run is deterministic
MAX_IGNORED_SHARE = {"live_wallclock": 0.75, "offline_proxy": 0.6, "token_level": 0.6}
DEFAULT_MAX_IGNORED_SHARE = 0.5


@dataclass
class RunRecord:
    notebook: str
    profile: str
    parameters: dict
    output: str
    started: str
    wall_s: float
    seed: int


def available_studies() -> list[str]:
    return sorted(p.stem for p in paths.NOTEBOOKS.glob("*.py"))


def notebook_path(name: str) -> Path:
    """The jupytext file of a study given as `speed_ratio` or `notebooks/speed_ratio.py`."""
    candidate = Path(name)
    if candidate.suffix == ".py" and candidate.is_file():
        return candidate.resolve()
    path = paths.NOTEBOOKS / f"{candidate.stem}.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"no study notebook {name!r} (looked for {path}); available: {', '.join(available_studies())}"
        )
    return path


def parse_parameters(pairs: list[str]) -> dict:
    """`["gamma=5", "profile=smoke"]` -> `{"gamma": 5, "profile": "smoke"}` (values read as YAML)."""
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"parameter {pair!r} is not of the form key=value")
        parameters[key] = yaml.safe_load(value) if value else ""
    return parameters


def load_notebook(path: Path):
    """Read a jupytext file and give it the kernel papermill needs."""
    import jupytext

    notebook = jupytext.read(path)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata.setdefault("language_info", {"name": "python"})
    return notebook


def run_notebook(
    name: str,
    profile: str = "mini",
    parameters: dict | None = None,
    output: Path | None = None,
    progress: bool = True,
) -> RunRecord:
    """Execute one study with papermill; raises papermill's error if a cell fails."""
    import papermill

    from xsd.config import load_profile

    source = notebook_path(name)
    settings = load_profile(profile)
    parameters = {**(parameters or {}), "profile": profile}
    output = Path(output) if output else paths.ensure(paths.book_dir()) / f"{source.stem}.ipynb"
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    start = time.perf_counter()
    # progress bars belong on the console, not in the book; nor does tqdm's notice that the kernel
    # has no widget library, which it prints on import wherever a study first imports it
    with _kernel_environment(TQDM_DISABLE="1", PYTHONWARNINGS="ignore:IProgress not found"):
        papermill.execute_notebook(
            load_notebook(source), str(output), parameters=parameters, kernel_name="python3",
            progress_bar=progress, cwd=str(paths.REPO),
        )
    record = RunRecord(
        notebook=source.stem, profile=settings.name, parameters=parameters, output=str(output),
        started=started, wall_s=round(time.perf_counter() - start, 2), seed=settings.seed,
    )
    save_record(record)
    return record


@contextlib.contextmanager
def _kernel_environment(**variables):
    """Set environment variables for a kernel started inside the block (it inherits them)."""
    previous = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def save_record(record: RunRecord) -> None:
    path = paths.ensure(paths.runs_dir(record.profile)) / f"{record.notebook}.json"
    path.write_text(json.dumps(asdict(record), indent=2))


def load_records(profile: str) -> list[RunRecord]:
    folder = paths.runs_dir(profile)
    return [RunRecord(**json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]


def prepare_golden() -> None:
    """Every cached result the golden studies read, computed before any of them runs (quietly), so
    a golden records the same outputs whether its caches were warm or cold: nothing a study
    computes on first use (training logs, loading bars, first-use warnings) lands in a compared
    cell. `make golden` and the test session (tests/conftest.py) both call it."""
    from xsd.config import load_profile

    prepare_book(load_profile(GOLDEN_PROFILE), progress=False)


def prepare_book(profile, progress: bool = True) -> list[tuple[str, float]]:
    """Every expensive step the studies read, run up front with progress on the console, so the
    notebooks that `xsd book` executes find their inputs cached. Returns (step, seconds) of this
    run: a step already cached takes a fraction of a second."""
    from xsd.pipeline import ensure_adapters, ensure_models, ensure_stores, ensure_world
    from xsd.studies import feature_adapters, live_wallclock, stage_timings, token_level, world_models

    steps = [
        ("world", lambda: ensure_world(profile, progress)),
        ("models", lambda: ensure_models(profile, progress)),
        ("model accuracy", lambda: world_models.model_accuracy(profile, progress=progress)),
        ("fact check", lambda: world_models.fact_choice(profile, progress=progress)),
        ("question following", lambda: world_models.question_following(profile, progress=progress)),
        ("description reading", lambda: world_models.description_reading(profile, progress=progress)),
        ("stage timings", lambda: stage_timings.stage_timings(profile, progress=progress)),
        ("hidden-state stores", lambda: ensure_stores(profile, progress)),
        ("adapters", lambda: ensure_adapters(profile, progress=progress)),
        ("adapter evaluation", lambda: feature_adapters.evaluate_profile(profile, progress=progress)),
        ("token-level study", lambda: token_level.token_level_study(profile, progress=progress)),
        ("decode benchmark", lambda: live_wallclock.decode_benchmark(profile, progress=progress)),
        ("decode benchmark, long answers", lambda: live_wallclock.decode_benchmark(
            profile, n=live_wallclock.LONG_ANSWER_SAMPLES, qtypes=live_wallclock.LONG_ANSWERS, progress=progress)),
    ]
    took = []
    for index, (name, step) in enumerate(steps, 1):
        print(f"[prepare {index}/{len(steps)}] {name}", flush=True)
        started = time.perf_counter()
        step()
        took.append((name, time.perf_counter() - started))
        print(f"[prepare {index}/{len(steps)}] {name}: {took[-1][1]:.0f} s", flush=True)
    return took


def write_golden(name: str) -> Path:
    """Re-execute a study on the smoke profile into tests/golden/, without volatile metadata
    or images."""
    import nbformat

    output = GOLDEN_DIR / f"{name}.ipynb"
    run_notebook(name, profile=GOLDEN_PROFILE, output=output)
    notebook = nbformat.read(output, as_version=4)
    notebook.metadata.pop("papermill", None)
    for cell in notebook.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for item in cell.get("outputs", []):
            # nbval never compares images; dropping them keeps the golden files small
            for kind in ("image/png", "image/svg+xml", "image/jpeg"):
                item.get("data", {}).pop(kind, None)
    nbformat.write(notebook, output)
    return output


# -- command line ---------------------------------------------------------------------------------

def add_commands(subparsers) -> None:
    from xsd.cli import add_profile_argument

    run = subparsers.add_parser(
        "run", help="execute one study notebook into the book",
        description="Execute notebooks/NOTEBOOK.py with papermill on a profile; the executed "
        "notebook is written to book/NOTEBOOK.ipynb (or --output) and its run is recorded "
        "for the reproducibility page.",
    )
    run.add_argument("notebook", help="study name (e.g. speed_ratio) or path of its .py file")
    add_profile_argument(run)
    run.add_argument(
        "-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
        help="override a value of the notebook's parameters cell (repeatable; values read as YAML)",
    )
    run.add_argument("--output", type=Path, help="where to write the executed notebook")
    run.set_defaults(handler=_run_command)

    golden = subparsers.add_parser(
        "golden", help="re-execute the golden notebooks that nbval checks",
        description=f"Execute {', '.join(GOLDEN_STUDIES)} on the {GOLDEN_PROFILE} profile into "
        "tests/golden/. Commit the result when a notebook's deterministic output changes on purpose.",
    )
    golden.add_argument("names", nargs="*", metavar="STUDY",
                        help=f"only these studies (default: all of {', '.join(GOLDEN_STUDIES)})")
    golden.set_defaults(handler=_golden_command)


def _run_command(args) -> int:
    import papermill

    try:
        record = run_notebook(args.notebook, args.profile, parse_parameters(args.parameter), args.output)
    except papermill.PapermillExecutionError as error:
        print(f"xsd run: {args.notebook} failed in cell {error.exec_count}: {error.ename}: {error.evalue}")
        return 1
    except (FileNotFoundError, ValueError) as error:
        print(f"xsd run: {error}")
        return 2
    print(f"{record.notebook}: {record.wall_s:.1f} s -> {record.output}")
    return 0


def _golden_command(args) -> int:
    unknown = sorted(set(args.names) - set(GOLDEN_STUDIES))
    if unknown:
        print(f"xsd golden: no golden study {', '.join(unknown)}; choose among {', '.join(GOLDEN_STUDIES)}")
        return 2
    prepare_golden()
    for name in args.names or GOLDEN_STUDIES:
        print(f"golden: {write_golden(name)}")
    return 0
