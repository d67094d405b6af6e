"""Atomic writes and results cached by their configuration: the one home of both.

A file is written beside its final name under a name no other process uses, then renamed over
it, so a reader (or a later run, after a kill) sees the old file or the new one, never half of
one. A cached result is a JSON file whose name carries the fingerprint of everything that shaped
it (`xsd.config.fingerprint`), so changing a setting computes anew and nothing stale is read.
"""
from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path


def temporary_beside(path: Path) -> Path:
    """A name beside `path` that no other process uses (same folder: the rename stays atomic)."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """`write(temporary)` a file, then move it over `path` in one step."""
    temporary = temporary_beside(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    replace_atomically(path, lambda temporary: temporary.write_text(text))


def write_json_atomic(path: Path, obj, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, default=str))


def atomic_save_file(tensors: dict, path: Path, metadata: dict | None = None) -> None:
    """safetensors' `save_file`, atomically."""
    from safetensors.torch import save_file

    replace_atomically(path, lambda temporary: save_file(tensors, str(temporary), metadata=metadata))


def torch_save_atomic(obj, path: Path) -> None:
    import torch

    replace_atomically(path, lambda temporary: torch.save(obj, temporary))


def replace_folder(final: Path, write: Callable[[Path], object]) -> Path:
    """`write(folder)` into a fresh temporary folder, then put it in place of `final`."""
    import shutil

    final = Path(final)
    temporary = final.with_name(final.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    write(temporary)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(temporary, final)
    return final


def cached_json(path: Path, compute: Callable[[], dict], refresh: bool = False,
                valid: Callable[[dict], bool] = lambda cached: True) -> dict:
    """The JSON object at `path`, computed (and written atomically) first when absent, `refresh`, or
    not `valid` (a result cached by an older version that lacks what this one reports).
    Returns what a later cached read returns: the object after a JSON round trip."""
    path = Path(path)
    if path.is_file() and not refresh:
        cached = json.loads(path.read_text())
        if valid(cached):
            return cached
    text = json.dumps(compute(), indent=1, default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return json.loads(text)
