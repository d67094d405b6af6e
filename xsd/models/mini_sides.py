"""What the mini trainer's stages share: how the two sides differ (`SPECS`), and `staged`, which
runs a stage once per side and keeps its report (see xsd.models.mini_training)."""
from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from xsd.cache import write_json_atomic


@dataclass(frozen=True)
class SideSpec:
    """What differs between the two sides."""
    name: str
    modality: str        # dense_targets' modality of the tower's frames
    feature_layer: int   # the tower layer the VLM reads (EventGPT: last; Video-LLaVA: second to last)
    answer_style: str    # Sample attribute with this side's reference answers
    view: str            # the modality view (xsd.world.qa.view) those answers come from


SPECS = {
    "draft": SideSpec("draft", "event", -1, "answer_event", "event"),
    "target": SideSpec("target", "rgb", -2, "answer_video", "video"),
}


def side_logger(side: str) -> Callable[[str], None]:
    def log(message: str) -> None:
        print(f"[{side}] {message}", flush=True)
    return log


def staged(name: str):
    """Run a stage once: its report is kept in <side>_<name>/done.json and reused afterwards."""
    def wrap(body):
        def stage(profile, spec, directory, log, stop_after, wait: bool = True):
            def run(folder, stop):
                return body(profile, spec, directory, folder, log, stop)
            return run_once(directory / f"{spec.name}_{name}", name, run, stop_after, wait)
        stage.__name__ = name
        return stage
    return wrap


BUSY = "busy"  # what `run_once(wait=False)` returns while another process runs the stage


def run_once(folder: Path, name: str, run: Callable[[Path, int | None], dict | None],
             stop_after: tuple[str, int] | None, wait: bool = True) -> dict | str | None:
    """`run(folder, stop)` unless `folder/done.json` holds its report already; the report (with
    its seconds) is written there, or None returned when `stop_after` ended the stage early.

    One process at a time runs a stage (a lock beside its folder): another one waits for it and
    then finds its report, or, with `wait=False`, gets BUSY at once."""
    with exclusive(folder.parent / f"{folder.name}.lock", wait) as held:
        if not held:
            return BUSY
        done = folder / "done.json"
        if done.is_file():
            return json.loads(done.read_text())
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        stop = stop_after[1] if stop_after and stop_after[0] == name else None
        result = run(folder, stop)
        if result is None:  # stopped early
            return None
        result["seconds"] = time.perf_counter() - started
        write_json_atomic(done, result)
        return result


@contextmanager
def exclusive(path: Path, wait: bool = True) -> Iterator[bool]:
    """Yields whether this process holds the lock at `path`, which one process holds at a time
    (released when the block ends, however it ends); with `wait=False` it does not wait for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
