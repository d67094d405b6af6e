"""The token-level study ("token-level failure"; the book's methods page, §3, defines its metrics).

Three measurements on the hidden-state stores, whose records hold both models' greedy answers:

- raw acceptance: how often the draft's own token equals the target's at the same answer position
  (ids compared through the shared vocabulary), and the matching run from the answer's start;
- the TokenAdapter: a causal transformer reading the draft's tokens and predicting the target's
  token at the same position, trained with masked cross-entropy on the train store (its last
  shard held out for early stopping) and scored top-1 / top-5 on the test store;
- what classic speculative decoding would give with those acceptance rates at a speed ratio
  c = T_draft / T_target (the notebook uses the one `xsd.results.stage_timings` measures).

Positions count where both answers have a token. Training is checkpointed every epoch (same format
as the hidden-state adapters) and resumes; results and stage timings are cached as JSON keyed by
the stores and the settings.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from xsd import costmodel, metrics, paths
from xsd.adapter_eval import as_profile
from xsd.adapters import TokenAdapter, default_heads, parameter_count
from xsd.config import Profile, fingerprint
from xsd.store import atomic_write_text, hold_out

STUDY_VERSION = 1  # bump when what the study computes changes (invalidates cached results)


@dataclass(frozen=True)
class TokenAdapterSettings:
    """Defaults are the seeds' run: 4 layers, 512 wide, 8 heads, lr 1e-4, batch 32, patience 10."""
    width: int = 512
    layers: int = 4
    heads: int = 8
    lr: float = 1e-4
    weight_decay: float = 0.01
    batch_size: int = 32
    max_epochs: int = 50
    patience: int = 10
    threads: int = 2


def settings_for(profile: Profile, hidden_size: int) -> TokenAdapterSettings:
    """The seeds' TokenAdapter for 7B-sized models; for the small profiles, one scaled to their
    LLMs (half their width, two layers) with the profile's adapter-training budget."""
    if hidden_size >= 4096:
        return TokenAdapterSettings(threads=profile.adapters.threads)
    width = max(32, hidden_size // 2)
    return TokenAdapterSettings(width=width, layers=2, heads=default_heads(width), lr=1e-3,
                                batch_size=profile.adapters.batch_size, max_epochs=profile.adapters.max_epochs,
                                patience=profile.adapters.patience, threads=profile.adapters.threads)


# -- token pairs ----------------------------------------------------------------------------------

@dataclass
class TokenPairs:
    """Both answers of every sample, padded: draft [N, T], target [N, T], mask [N, T] (both present)."""
    draft: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return self.draft.shape[0]

    def rows(self, index) -> "TokenPairs":
        return TokenPairs(self.draft[index], self.target[index], self.mask[index])


def token_pairs(store, vocabulary=None) -> TokenPairs:
    """The token sequences of a store (states are not kept). With a `SharedVocabulary`, draft ids
    are mapped to target ids (and checked to be shared)."""
    draft, target = [], []
    for record in store.records():
        draft.append(record.tok_egpt if vocabulary is None else vocabulary.draft_to_target(record.tok_egpt))
        target.append(record.tok_vl)
    length = max(max(len(d), len(t)) for d, t in zip(draft, target))
    pad = torch.zeros(len(draft), length, dtype=torch.long)
    d, t, m_d, m_t = pad.clone(), pad.clone(), pad.bool(), pad.bool()
    for i, (a, b) in enumerate(zip(draft, target)):
        d[i, :len(a)], m_d[i, :len(a)] = a, True
        t[i, :len(b)], m_t[i, :len(b)] = b, True
    return TokenPairs(d, t, m_d & m_t)


def raw_acceptance(pairs: TokenPairs) -> dict:
    """Draft token == target token at the same position, and the matching run from position 0."""
    return {"acceptance": metrics.token_top1(pairs.draft, pairs.target, pairs.mask),
            "run_from_start": metrics.streak((pairs.draft == pairs.target) & pairs.mask).float().mean().item(),
            "positions": int(pairs.mask.sum()), "samples": len(pairs)}


# -- the TokenAdapter -----------------------------------------------------------------------------

def token_loss(adapter: TokenAdapter, pairs: TokenPairs) -> torch.Tensor:
    logits = adapter(pairs.draft)
    return F.cross_entropy(logits[pairs.mask], pairs.target[pairs.mask])


@torch.no_grad()
def evaluate_token_adapter(adapter: TokenAdapter, pairs: TokenPairs, batch_size: int = 256, k: int = 5) -> dict:
    """Top-1 / top-k of the adapter's prediction of the target token, the top-1 run from the
    answer's start, and the mean cross-entropy, over positions where both answers exist."""
    adapter.eval()
    hits1, hitsk, loss, runs = [], [], [], []
    for i in range(0, len(pairs), batch_size):
        part = pairs.rows(slice(i, i + batch_size))
        logits = adapter(part.draft)
        topk = logits.topk(k, dim=-1).indices
        right = topk[..., 0] == part.target
        hits1.append(right[part.mask])
        hitsk.append((topk == part.target[..., None]).any(-1)[part.mask])
        loss.append(F.cross_entropy(logits[part.mask], part.target[part.mask], reduction="none"))
        runs.append(metrics.streak(right & part.mask))
    return {"top1": torch.cat(hits1).float().mean().item(), f"top{k}": torch.cat(hitsk).float().mean().item(),
            "top1_run_from_start": torch.cat(runs).float().mean().item(), "loss": torch.cat(loss).mean().item()}


def train_token_adapter(train: TokenPairs, val: TokenPairs, draft_vocab: int, target_vocab: int,
                        settings: TokenAdapterSettings, folder: Path, seed: int = 0, log=None) -> dict:
    """Train (or resume) a TokenAdapter with AdamW, a cosine schedule and early stopping on the
    validation loss; returns the run's summary. A finished run returns at once."""
    from xsd.train_adapters import _checkpoint, _resume, _save_weights

    torch.set_num_threads(settings.threads)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"adapter": "TokenAdapter", "hidden_size": settings.width, "draft_vocab": draft_vocab,
              "target_vocab": target_vocab, "settings": asdict(settings), "seed": seed}
    torch.manual_seed(seed)
    adapter = new_token_adapter(config)
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.max_epochs * math.ceil(len(train) / settings.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    state = _resume(folder, config, adapter, optimizer, schedule)
    while state["epoch"] < settings.max_epochs and state["bad_epochs"] < settings.patience:
        start = time.perf_counter()
        train_loss = _train_epoch(adapter, train, settings, optimizer, schedule, seed + state["epoch"])
        state["train_seconds"] += time.perf_counter() - start
        state["samples_seen"] += len(train)
        scores = evaluate_token_adapter(adapter, val)
        state["curves"].append({"epoch": state["epoch"] + 1, "train_loss": train_loss, "val_loss": scores["loss"],
                                "val_top1": scores["top1"]})
        if scores["loss"] < state["best_val_loss"]:
            state.update(best_val_loss=scores["loss"], best_epoch=state["epoch"] + 1, bad_epochs=0)
            _save_weights(adapter, folder / "best.safetensors")
        else:
            state["bad_epochs"] += 1
        state["epoch"] += 1
        _checkpoint(folder, config, adapter, optimizer, schedule, state)
        if log:
            log(f"TokenAdapter epoch {state['epoch']}: train {train_loss:.4f}, val {scores['loss']:.4f}, "
                f"val top-1 {scores['top1']:.3f}")
    return {"params": parameter_count(adapter), "epochs": state["epoch"], "best_epoch": state["best_epoch"],
            "best_val_loss": state["best_val_loss"], "curves": state["curves"],
            "samples_per_s": state["samples_seen"] / max(state["train_seconds"], 1e-9)}


def new_token_adapter(config: dict) -> TokenAdapter:
    s = config["settings"]
    return TokenAdapter(config["draft_vocab"], config["target_vocab"], s["width"], s["layers"], s["heads"])


def load_best(folder: Path) -> TokenAdapter:
    from safetensors.torch import load_file

    adapter = new_token_adapter(json.loads((Path(folder) / "config.json").read_text()))
    adapter.load_state_dict(load_file(str(Path(folder) / "best.safetensors")))
    return adapter.eval()


def _train_epoch(adapter, pairs: TokenPairs, settings, optimizer, schedule, seed: int) -> float:
    adapter.train()
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))
    total = 0.0
    for i in range(0, len(pairs), settings.batch_size):
        batch = pairs.rows(order[i:i + settings.batch_size])
        if not batch.mask.any():
            continue  # answers without a shared position give no loss to learn from
        loss = token_loss(adapter, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        total += loss.item() * len(batch)
    return total / max(len(pairs), 1)


# -- the study on a profile, cached ---------------------------------------------------------------

def study_key(profile: Profile, settings: TokenAdapterSettings) -> str:
    from xsd.extract import store_dir

    indexes = [(store_dir(profile, split) / "index.json").read_text() for split in ("train", "test")]
    return fingerprint({"stores": indexes, "settings": settings, "seed": profile.seed, "version": STUDY_VERSION})


def token_level_study(profile: str | Profile, refresh: bool = False, progress: bool = False) -> dict:
    """Raw acceptance (train and test), the TokenAdapter's training run and test scores; cached.
    Runs the missing pipeline steps (world, models, stores) first."""
    from xsd.extract import load_lm_head, open_store
    from xsd.models.mini_training import trained_pair
    from xsd.pipeline import ensure_stores

    profile = as_profile(profile)
    ensure_stores(profile, progress=progress)
    train_store, test_store = open_store(profile, "train"), open_store(profile, "test")
    settings = settings_for(profile, int(train_store.meta["hidden_size"]))
    key = study_key(profile, settings)
    path = paths.cache_dir() / "token_level" / profile.name / f"{key}.json"
    if path.is_file() and not refresh:
        return json.loads(path.read_text())
    vocabulary = trained_pair(profile).vocabulary()
    train_view, val_view = hold_out(train_store)
    train, val = token_pairs(train_view, vocabulary), token_pairs(val_view, vocabulary)
    test = token_pairs(test_store, vocabulary)
    folder = paths.models_dir() / profile.name / "token_adapter" / key
    run = train_token_adapter(train, val, vocabulary.size, int(load_lm_head(profile).shape[0]), settings, folder,
                              seed=profile.seed, log=print if progress else None)
    result = {
        "profile": profile.name, "settings": asdict(settings), "shared_vocabulary": vocabulary.size,
        "raw": {"train": raw_acceptance(token_pairs(train_store, vocabulary)), "test": raw_acceptance(test)},
        "token_adapter": {**run, "test": evaluate_token_adapter(load_best(folder), test), "folder": str(folder)},
    }
    paths.ensure(path.parent)
    atomic_write_text(path, json.dumps(result, indent=1))
    return result


def classic_sd(alphas: dict[str, float], c: float, gammas=(1, 3, 5), max_gamma: int = 32) -> list[dict]:
    """Classic SD with each acceptance rate at speed ratio c: expected tokens per round, speedup
    at each γ and at the best γ, and the α each γ would need to break even."""
    rows = []
    for label, alpha in alphas.items():
        best = costmodel.optimal_gamma(alpha, c, max_gamma)
        row = {"acceptance": label, "α": alpha, "c": c}
        for gamma in gammas:
            row[f"E(α, {gamma})"] = costmodel.expected_tokens(alpha, gamma)
            row[f"speedup γ={gamma}"] = costmodel.sd_speedup(alpha, gamma, c)
        row.update({"best γ": best, "speedup at best γ": costmodel.sd_speedup(alpha, best, c)})
        rows.append(row)
    return rows


def required_alphas(c: float, gammas=(1, 3, 5)) -> dict[int, float | None]:
    """Break-even acceptance per γ (None where no α reaches a speedup of 1)."""
    out = {}
    for gamma in gammas:
        try:
            out[gamma] = costmodel.required_alpha(gamma, c)
        except ValueError:
            out[gamma] = None
    return out


__all__ = ["TokenAdapterSettings", "settings_for", "TokenPairs", "token_pairs", "raw_acceptance",
           "train_token_adapter", "evaluate_token_adapter", "token_level_study", "classic_sd", "required_alphas"]
