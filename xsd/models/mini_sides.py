"""What the mini trainer's stages share: how the two sides differ (`SPECS`), and `staged`, which
runs a stage once per side and keeps its report (see xsd.models.mini_training)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

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
        def stage(profile, spec, directory, log, stop_after):
            folder = directory / f"{spec.name}_{name}"
            done = folder / "done.json"
            if done.is_file():
                return json.loads(done.read_text())
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            stop = stop_after[1] if stop_after and stop_after[0] == name else None
            result = body(profile, spec, directory, folder, log, stop)
            if result is None:  # stopped early
                return None
            result["seconds"] = time.perf_counter() - started
            write_json_atomic(done, result)
            return result
        stage.__name__ = name
        return stage
    return wrap
