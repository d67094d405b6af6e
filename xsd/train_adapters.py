"""Training the hidden-state adapters on the extraction store (methods §2).

AdamW with a cosine schedule; loss MSE + 0.5·(1 − cos) over valid positions (per-position
adapters: where both answers have a token; next-state heads: every position of the target's answer,
the draft's stream zero rows past the end of its answer, as the live decoder feeds it); next-state heads
add the dual objective (1 − w)·loss(aligned[t], h_vl[t]) + w·loss(next[t], h_vl[t+1]); early
stopping on the validation loss. Data stream shard by shard, so memory does not grow with the
size of the store. After every epoch the run is checkpointed (weights as safetensors, optimizer
and RNG state beside them: the shared loop of xsd.fit), so a killed run resumes where it stopped.
The checkpoint's `config.json` names the adapter, hidden size, sizes and training settings.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from xsd.adapters import PER_POSITION, create_adapter, parameter_count
from xsd.cache import atomic_write_text
from xsd.config import AdaptersConfig
from xsd.fit import CheckpointError, fit
from xsd.locations import Locations, adapter_recipe
from xsd.store import Batch, HiddenStateStore, collate


# -- losses ---------------------------------------------------------------------------------------

def masked_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, cos_weight: float) -> torch.Tensor:
    """Mean over valid positions of MSE + cos_weight · (1 − cos)."""
    mse = (pred - target).pow(2).mean(dim=-1)
    cos = F.cosine_similarity(pred, target, dim=-1)
    per_position = mse + cos_weight * (1 - cos)
    return (per_position * mask).sum() / mask.sum().clamp(min=1)


def draft_stream(batch: Batch) -> torch.Tensor:
    """h_egpt as a live drafter reads it: zero rows past the end of the draft's answer (what
    `xsd.decode.EgptFeed` gives a head there), whatever the batch held beyond `mask_egpt`."""
    return batch.h_egpt.masked_fill(~batch.mask_egpt[..., None], 0.0)


def head_inputs(head, batch: Batch) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """What a next-state head reads (the streams it declares), and the positions it is trained and
    scored on.

    Every head (L5, B1, L5F) is trained and scored at every position of the target's answer
    (`mask_vl`), so the heads are compared on the same positions. The live decoder drafts there
    too: past the end of the draft's answer, a head reading the draft's stream gets zero rows,
    and so does it here (`draft_stream`).
    """
    egpt = draft_stream(batch) if "egpt" in head.streams else None
    return head.inputs(egpt, batch.h_vl), batch.mask_vl


def adapter_loss(adapter, name: str, batch: Batch, settings: AdaptersConfig) -> torch.Tensor:
    if name in PER_POSITION:
        return masked_loss(adapter(batch.h_egpt), batch.h_vl, batch.mask_pair, settings.cos_weight)
    inputs, present = head_inputs(adapter, batch)
    nxt, aligned = adapter(*inputs)
    predict = masked_loss(nxt[:, :-1], batch.h_vl[:, 1:], present[:, :-1] & batch.mask_vl[:, 1:],
                          settings.cos_weight)
    if aligned is None:
        return predict
    align = masked_loss(aligned, batch.h_vl, present & batch.mask_vl, settings.cos_weight)
    return (1 - settings.next_weight) * align + settings.next_weight * predict


def predict(adapter, name: str, batch: Batch) -> torch.Tensor:
    """The adapter's output in the target's space: h_vl[t] for L1–L4, h_vl[t+1] for heads."""
    if name in PER_POSITION:
        return adapter(batch.h_egpt)
    inputs, _ = head_inputs(adapter, batch)
    return adapter(*inputs)[0]


# -- training -------------------------------------------------------------------------------------

@dataclass
class TrainResult:
    name: str
    params: int
    epochs: int
    best_epoch: int
    best_val_loss: float
    samples_per_s: float
    stopped_early: bool
    folder: str


def checkpoint_config(name: str, hidden_size: int, settings: AdaptersConfig, seed: int, store_meta: dict) -> dict:
    config = {"adapter": name, "hidden_size": hidden_size, "sizes": settings.sizes.get(name, {}),
              "train": asdict(settings), "seed": seed, "store": store_meta}
    if adapter_recipe(name) > 1:  # recipe 1 is not written, so the checkpoints of that recipe stay valid
        config["recipe"] = adapter_recipe(name)
    return config


def train_adapter(name: str, train: HiddenStateStore, val: HiddenStateStore, settings: AdaptersConfig,
                  folder: Path, seed: int = 0, progress: bool = True, on_epoch=None,
                  threads: int | None = None) -> TrainResult:
    """Train (or resume training) adapter `name` with the shared fit loop (xsd.fit); returns when
    early stopping or max_epochs ends it. `on_epoch(curve_point)` is called after each epoch's
    checkpoint is on disk. `threads`: torch's CPU threads (None: the settings')."""
    torch.set_num_threads(threads or settings.threads)
    hidden = int(train.meta["hidden_size"])
    config = checkpoint_config(name, hidden, settings, seed, train.meta)
    torch.manual_seed(seed)
    adapter = create_adapter(name, hidden, **config["sizes"])
    steps_per_epoch = math.ceil(len(train) / settings.batch_size) + train.n_shards

    def train_epoch(optimizer, schedule, epoch_seed):
        return _train_epoch(adapter, name, train, settings, optimizer, schedule, epoch_seed)

    def describe(point, improved):
        return (f"{name} epoch {point['epoch']}: train {point['train_loss']:.4f}, val {point['val_loss']:.4f}"
                f"{' (best)' if improved else ''}")

    state = fit(adapter, folder, config, settings, settings.max_epochs * steps_per_epoch, seed, train_epoch,
                lambda: (evaluate_loss(adapter, name, val, settings), {}), describe,
                log=(lambda line: print(line, flush=True)) if progress else None, on_epoch=on_epoch)
    return TrainResult(name=name, params=parameter_count(adapter), epochs=state["epoch"],
                       best_epoch=state["best_epoch"], best_val_loss=state["best_val_loss"],
                       samples_per_s=state["samples_per_s"], stopped_early=state["stopped_early"],
                       folder=str(folder))


def _train_epoch(adapter, name, store, settings, optimizer, schedule, seed) -> tuple[float, int]:
    adapter.train()
    generator = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for k in torch.randperm(store.n_shards, generator=generator).tolist():
        records = store.shard(k)
        order = torch.randperm(len(records), generator=generator).tolist()
        for i in range(0, len(order), settings.batch_size):
            batch = collate([records[j] for j in order[i:i + settings.batch_size]])
            loss = adapter_loss(adapter, name, batch, settings)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            size = batch.h_vl.shape[0]
            total, count = total + loss.item() * size, count + size
    return total / max(count, 1), count


@torch.no_grad()
def evaluate_loss(adapter, name: str, store: HiddenStateStore, settings: AdaptersConfig) -> float:
    adapter.eval()
    total, count = 0.0, 0
    for k in range(store.n_shards):
        records = store.shard(k)
        for i in range(0, len(records), settings.batch_size):
            batch = collate(records[i:i + settings.batch_size])
            size = batch.h_vl.shape[0]
            total += adapter_loss(adapter, name, batch, settings).item() * size
            count += size
    return total / max(count, 1)


# -- checkpoints ----------------------------------------------------------------------------------

def load_adapter(folder: Path, name: str | None = None, hidden_size: int | None = None, which: str = "best"):
    """Load a trained adapter; asking for another adapter or hidden size than it holds is an error."""
    folder = Path(folder)
    config_path, weights = folder / "config.json", folder / f"{which}.safetensors"
    if not config_path.is_file() or not weights.is_file():
        raise CheckpointError(f"{folder} is not an adapter checkpoint (needs config.json and {weights.name})")
    config = json.loads(config_path.read_text())
    if name is not None and config["adapter"] != name:
        raise CheckpointError(f"{folder} holds adapter {config['adapter']}, not {name}")
    if hidden_size is not None and config["hidden_size"] != hidden_size:
        raise CheckpointError(f"{folder} was trained for hidden size {config['hidden_size']}, not {hidden_size}")
    adapter = create_adapter(config["adapter"], config["hidden_size"], **config["sizes"])
    try:
        adapter.load_state_dict(load_file(str(weights)))
    except RuntimeError as error:
        raise CheckpointError(f"{weights} does not fit adapter {config['adapter']}: {error}") from None
    return adapter.eval(), config


# -- adapters of a profile ------------------------------------------------------------------------

def train_profile_adapters(profile, names: list[str], progress: bool = True) -> list[TrainResult]:
    """Train the named adapters of the profile (`train_profile_adapter`): the profile's adapter
    threads become as many processes of one thread each, which take the adapters one at a time
    (small models keep one thread each busier than two threads in one process). An adapter trained
    here is the same whichever process trains it."""
    from xsd.processes import run_in_processes

    jobs = min(profile.adapters.threads, len(names))
    if jobs <= 1:
        return [train_profile_adapter(profile, name, progress) for name in names]
    tasks = [(str(profile.source or profile.name), name, progress, 1) for name in names]
    return run_in_processes(_train_named_adapter, tasks, jobs)


def _train_named_adapter(profile_ref: str, name: str, progress: bool, threads: int) -> TrainResult:
    from xsd.config import load_profile

    return train_profile_adapter(load_profile(profile_ref), name, progress, threads)


def train_profile_adapter(profile, name: str, progress: bool = True, threads: int | None = None) -> TrainResult:
    """Train adapter `name` on the profile's train store; its last shard is held out for early
    stopping, so the test split stays untouched for reporting."""
    from xsd.extract import open_store
    from xsd.store import hold_out

    folder = Locations(profile).adapter(name)
    train, val = hold_out(open_store(profile, "train"))
    result = train_adapter(name, train, val, profile.adapters, folder, seed=profile.seed, progress=progress,
                           threads=threads)
    atomic_write_text(folder / "result.json", json.dumps(asdict(result), indent=1))
    return result


def trained_adapter(profile, name: str):
    """(adapter, config, result) of a trained adapter of the profile; a clear error when absent."""
    folder = Locations(profile).adapter(name)
    if not (folder / "result.json").is_file():
        raise CheckpointError(f"adapter {name} is not trained for profile {profile.name} ({folder}); "
                              f"run `xsd train {name} --profile {profile.name}`")
    adapter, config = load_adapter(folder, name=name)
    if config.get("recipe", 1) != adapter_recipe(name):
        raise CheckpointError(f"adapter {name} in {folder} was trained with recipe {config.get('recipe', 1)}, "
                              f"this code trains recipe {adapter_recipe(name)} (see ADAPTER_RECIPES in xsd.locations); "
                              f"remove {folder} and run `xsd train {name} --profile {profile.name}`")
    return adapter, config, json.loads((folder / "result.json").read_text())


def decoding_adapter(profile, name: str, device=None):
    """Adapter `name` as the decoder runs it, on `device` in the target's dtype: the trained one,
    or for a profile with random weights (shapes) a seeded random one of the real sizes, whose
    costs are what matter there."""
    from xsd.device import dtype_of

    models = profile.models
    if models.random_weights is None:
        adapter = trained_adapter(profile, name)[0]
        return adapter.to(device) if device is not None else adapter
    torch.manual_seed(profile.seed + 3)
    adapter = create_adapter(name, models.llm.hidden_size, **profile.adapters.sizes.get(name, {}))
    return adapter.to(device or "cpu", dtype_of(models.random_weights.dtype)).eval()
