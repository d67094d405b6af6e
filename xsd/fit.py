"""The one training loop of every adapter (hidden-state adapters and the TokenAdapter).

AdamW with a cosine schedule over `max_epochs`, early stopping on the validation loss after
`patience` epochs without improvement. After every epoch the run is checkpointed into its folder
(weights as safetensors, optimizer, schedule and RNG state beside them), so a killed run resumes
where it stopped and ends where an uninterrupted one ends. A folder holds `config.json`,
`best.safetensors`, `last.safetensors`, `state.pt` and `curves.json`.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from xsd.cache import atomic_save_file, atomic_write_text, torch_save_atomic


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged, or made for another adapter or hidden size."""


def save_weights(model: torch.nn.Module, path: Path) -> None:
    atomic_save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)


def fit(model: torch.nn.Module, folder: Path, config: dict, settings, total_steps: int, seed: int,
        train_epoch: Callable, validate: Callable, describe: Callable | None = None,
        log: Callable | None = None, on_epoch: Callable | None = None) -> dict:
    """Train (or resume training) `model` until early stopping or `settings.max_epochs` ends it.

    `train_epoch(optimizer, schedule, seed)` runs one epoch and returns (mean loss, samples seen);
    `validate()` returns (validation loss, {further curve values}). After each epoch, once its
    checkpoint is on disk, `log(describe(curve_point, improved))` and `on_epoch(curve_point)` are
    called. Returns the run's state: epochs, best epoch and loss, curves, samples and seconds."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    state = resume(folder, config, model, optimizer, schedule)
    while state["epoch"] < settings.max_epochs and state["bad_epochs"] < settings.patience:
        epoch = state["epoch"]
        started = time.perf_counter()
        train_loss, samples = train_epoch(optimizer, schedule, seed + epoch)
        state["train_seconds"] += time.perf_counter() - started
        state["samples_seen"] += samples
        val_loss, extra = validate()
        point = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, **extra}
        state["curves"].append(point)
        improved = val_loss < state["best_val_loss"]
        if improved:
            state.update(best_val_loss=val_loss, best_epoch=epoch + 1, bad_epochs=0)
            save_weights(model, folder / "best.safetensors")
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        checkpoint(folder, config, model, optimizer, schedule, state)
        if log is not None and describe is not None:
            log(describe(point, improved))
        if on_epoch is not None:
            on_epoch(point)
    state["stopped_early"] = state["bad_epochs"] >= settings.patience
    state["samples_per_s"] = state["samples_seen"] / max(state["train_seconds"], 1e-9)
    return state


def checkpoint(folder: Path, config: dict, model, optimizer, schedule, state: dict) -> None:
    save_weights(model, folder / "last.safetensors")
    torch_save_atomic({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                       "rng": torch.get_rng_state(), **state}, folder / "state.pt")
    atomic_write_text(folder / "curves.json", json.dumps(state["curves"], indent=1))
    atomic_write_text(folder / "config.json", json.dumps(config, indent=1))


def resume(folder: Path, config: dict, model, optimizer, schedule) -> dict:
    """The saved run's state, with model, optimizer, schedule and RNG restored; a fresh state when
    the folder holds no run. A folder holding a run with other settings is refused."""
    from safetensors.torch import load_file

    fresh = {"epoch": 0, "best_val_loss": float("inf"), "best_epoch": 0, "bad_epochs": 0,
             "curves": [], "samples_seen": 0, "train_seconds": 0.0}
    if not (folder / "state.pt").exists():
        return fresh
    saved = json.loads((folder / "config.json").read_text())
    if saved != json.loads(json.dumps(config)):
        raise CheckpointError(
            f"{folder} holds a run with other settings ({saved['adapter']}, hidden size "
            f"{saved['hidden_size']}); remove it or train into another folder"
        )
    state = torch.load(folder / "state.pt", weights_only=False)
    model.load_state_dict(load_file(str(folder / "last.safetensors")))
    optimizer.load_state_dict(state.pop("optimizer"))
    schedule.load_state_dict(state.pop("schedule"))
    torch.set_rng_state(state.pop("rng"))
    return {**fresh, **state}
