"""The token-level study ("token-level failure"; the book's methods page, §3, defines its metrics).

Three measurements on the hidden-state stores, whose records hold both models' greedy answers:

- raw acceptance: how often the draft's own token equals the target's at the same answer position
  (ids compared through the shared vocabulary), and the matching run from the answer's start;
- the TokenAdapter: a causal transformer reading the draft's tokens and predicting the target's
  token at the same position, trained with masked cross-entropy on the train store (its last
  shard held out for early stopping) and scored top-1 / top-5 on the test store;
- what classic speculative decoding would give with those acceptance rates at a speed ratio
  c = T_draft / T_target (the notebook uses the one `xsd.studies.stage_timings` measures).

Positions count where both answers have a token. Training is checkpointed every epoch (same format
as the hidden-state adapters) and resumes; results and stage timings are cached as JSON keyed by
the stores and the settings.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from xsd import costmodel, metrics
from xsd.adapters import TokenAdapter, default_heads, parameter_count
from xsd.cache import cached_json
from xsd.config import Profile, fingerprint
from xsd.fit import fit
from xsd.locations import Locations
from xsd.store import hold_out

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
    """Train (or resume) a TokenAdapter with the shared fit loop (xsd.fit: AdamW, a cosine schedule,
    early stopping on the validation loss); returns the run's summary. A finished run returns at once."""
    torch.set_num_threads(settings.threads)
    config = {"adapter": "TokenAdapter", "hidden_size": settings.width, "draft_vocab": draft_vocab,
              "target_vocab": target_vocab, "settings": asdict(settings), "seed": seed}
    torch.manual_seed(seed)
    adapter = new_token_adapter(config)

    def train_epoch(optimizer, schedule, epoch_seed):
        return _train_epoch(adapter, train, settings, optimizer, schedule, epoch_seed), len(train)

    def validate():
        scores = evaluate_token_adapter(adapter, val)
        return scores["loss"], {"val_top1": scores["top1"]}

    def describe(point, improved):
        return (f"TokenAdapter epoch {point['epoch']}: train {point['train_loss']:.4f}, "
                f"val {point['val_loss']:.4f}, val top-1 {point['val_top1']:.3f}")

    steps = settings.max_epochs * math.ceil(len(train) / settings.batch_size)
    state = fit(adapter, folder, config, settings, steps, seed, train_epoch, validate, describe, log=log)
    return {"params": parameter_count(adapter), "epochs": state["epoch"], "best_epoch": state["best_epoch"],
            "best_val_loss": state["best_val_loss"], "curves": state["curves"],
            "samples_per_s": state["samples_per_s"]}


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
    indexes = [(Locations(profile).store(split) / "index.json").read_text() for split in ("train", "test")]
    return fingerprint({"stores": indexes, "settings": settings, "seed": profile.seed, "version": STUDY_VERSION})


def token_level_study(profile: Profile, refresh: bool = False, progress: bool = False) -> dict:
    """Raw acceptance (train and test), the TokenAdapter's training run and test scores; cached.
    Runs the missing pipeline steps (world, models, stores) first."""
    from xsd.extract import load_lm_head, open_store
    from xsd.pipeline import ensure_models, ensure_stores

    ensure_stores(profile, progress=progress)
    train_store, test_store = open_store(profile, "train"), open_store(profile, "test")
    settings = settings_for(profile, int(train_store.meta["hidden_size"]))
    key = study_key(profile, settings)

    def compute() -> dict:
        vocabulary = ensure_models(profile, progress=False).vocabulary()
        train_view, val_view = hold_out(train_store)
        train, val = token_pairs(train_view, vocabulary), token_pairs(val_view, vocabulary)
        test = token_pairs(test_store, vocabulary)
        folder = Locations(profile).token_adapter(key)
        run = train_token_adapter(train, val, vocabulary.size, int(load_lm_head(profile).shape[0]), settings,
                                  folder, seed=profile.seed, log=print if progress else None)
        return {
            "profile": profile.name, "settings": asdict(settings), "shared_vocabulary": vocabulary.size,
            "raw": {"train": raw_acceptance(token_pairs(train_store, vocabulary)), "test": raw_acceptance(test)},
            "token_adapter": {**run, "test": evaluate_token_adapter(load_best(folder), test), "folder": str(folder)},
        }

    return cached_json(Locations(profile).results("token_level") / f"{key}.json", compute, refresh)


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
