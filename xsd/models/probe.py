"""How much of what a tower knows one attention read of its tokens takes.

Stage A teaches each tower its clip's facts lane by lane through heads that read every token of
the layer the VLM reads, flattened: a linear map with its own weights per token position. An LLM
reads visual tokens with attention: per head a weighted mean of the tokens under one value map
shared by all of them. What the first can tell apart the second need not. This fits both reads
to the same cached features (stage B: the first frame of every train clip) and targets (each
lane's class and its colour or motion, `xsd.world.targets.dense_targets`), and scores them on
clips held out from the fit (a lane's class only where it holds a road user), so a tower
recipe's readability is measured without stage C:

  linear     one linear map of all the tokens per fact (what stage A's heads are)
  attention  per fact a learned query over `heads` heads, keys and values shared by every fact,
             then a small MLP: one layer of what an LLM does, minus its context
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

PROBES = ("linear", "attention")


def probe_data(profile, side: str, directory) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """(features [n, tokens, C] of each train clip's first frame, targets [n, 2 · lanes]: each lane's
    class, then each lane's attribute, IGNORE where the frame cannot show it; classes per column)."""
    from xsd.models.mini_sides import SPECS
    from xsd.models.registry import built_world
    from xsd.models.train import IGNORE
    from xsd.world.dataset import WorldDataset
    from xsd.world.scene import CLASSES, COLOURS, DIRECTIONS, N_LANES
    from xsd.world.targets import dense_targets

    spec = SPECS[side]
    attributes = DIRECTIONS if spec.modality == "event" else COLOURS
    classes = [1 + len(CLASSES)] * N_LANES + [1 + len(attributes)] * N_LANES
    features = torch.load(directory / f"{side}_features" / "features.pt", weights_only=True)
    x, y = [], []
    for key, truth in clip_truths(WorldDataset(built_world(profile), "train")):
        dense = dense_targets(truth, 0, spec.modality)
        x.append(features[key][0].float())
        y.append(np.concatenate([dense["lane_class"], np.where(dense["attr_mask"], dense["lane_attr"], IGNORE)]))
    return torch.stack(x), torch.from_numpy(np.stack(y)), classes


def clip_truths(dataset):
    """("seq/clip", truth) once per clip of the dataset, in its order."""
    seen = set()
    for sample in dataset:
        key = f"{sample.seq}/{sample.clip}"
        if key not in seen:
            seen.add(key)
            yield key, sample.truth


class LinearProbe(nn.Module):
    def __init__(self, tokens: int, width: int, classes: list[int]):
        super().__init__()
        self.heads = nn.ModuleList([nn.Linear(tokens * width, n) for n in classes])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [head(x.flatten(1)) for head in self.heads]


class AttentionProbe(nn.Module):
    def __init__(self, width: int, classes: list[int], heads: int = 4, head_size: int = 32, hidden: int = 128):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.keys, self.values = nn.Linear(width, heads * head_size), nn.Linear(width, heads * head_size)
        self.queries = nn.Parameter(torch.randn(len(classes), heads, head_size) * 0.1)
        self.heads, self.head_size = heads, head_size
        self.outputs = nn.ModuleList([nn.Sequential(nn.Linear(heads * head_size, hidden), nn.GELU(),
                                                    nn.Linear(hidden, n)) for n in classes])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.norm(x)
        n, tokens, _ = x.shape
        keys = self.keys(x).view(n, tokens, self.heads, self.head_size)
        values = self.values(x).view(n, tokens, self.heads, self.head_size)
        weights = torch.einsum("fhd,nthd->nfth", self.queries, keys).div(self.head_size ** 0.5).softmax(2)
        read = torch.einsum("nfth,nthd->nfhd", weights, values).flatten(2)
        return [output(read[:, f]) for f, output in enumerate(self.outputs)]


def new_probe(name: str, x: torch.Tensor, classes: list[int]) -> nn.Module:
    if name not in PROBES:
        raise ValueError(f"probe must be one of {PROBES}, not {name!r}")
    return LinearProbe(x.shape[1], x.shape[2], classes) if name == "linear" else AttentionProbe(x.shape[2], classes)


def fit_and_score(name: str, x: torch.Tensor, y: torch.Tensor, classes: list[int], held_out: int, steps: int,
                  seed: int, batch: int = 64, scored: torch.Tensor | None = None) -> list[float]:
    """Held-out accuracy per target column (nan where no held-out clip shows it) of probe `name`,
    fitted on the first len(x) - held_out clips; scored on `scored` (targets with more of them
    IGNORE) when given, else on `y`."""
    from xsd.models.train import IGNORE

    torch.manual_seed(seed)
    probe = new_probe(name, x, classes)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=1e-3, weight_decay=0.01)
    fit = len(x) - held_out
    for _ in range(steps):
        chosen = torch.randint(0, fit, (batch,))
        outputs = probe(x[chosen])
        loss = sum(nn.functional.cross_entropy(out, y[chosen, k], ignore_index=IGNORE) for k, out in enumerate(outputs))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        outputs = probe(x[fit:])
    truth = (y if scored is None else scored)[fit:]
    scores = []
    for k, out in enumerate(outputs):
        seen = truth[:, k] != IGNORE
        scores.append(float((out.argmax(-1)[seen] == truth[seen, k]).float().mean()) if seen.any() else float("nan"))
    return scores


def probe_side(profile, side: str, directory, held_out: int = 150, steps: int = 1500) -> dict:
    """Both probes' held-out accuracy on one side's features: per lane and the mean, for the lanes'
    classes (over the lanes that hold a road user: an empty lane is easy to tell) and attributes."""
    from xsd.models.train import IGNORE
    from xsd.world.scene import N_LANES

    x, y, classes = probe_data(profile, side, directory)
    road_users = y.clone()
    road_users[:, :N_LANES][road_users[:, :N_LANES] == 0] = IGNORE
    if len(x) <= held_out:
        raise ValueError(f"{side}: {len(x)} train clips leave none to fit after holding out {held_out}")
    out = {"clips_fitted": len(x) - held_out, "clips_held_out": held_out, "steps": steps, "seed": profile.seed}
    for name in PROBES:
        scores = fit_and_score(name, x, y, classes, held_out, steps, profile.seed, scored=road_users)
        scores = [None if np.isnan(v) else v for v in scores]   # JSON has no nan
        lane_classes, lane_attributes = scores[:N_LANES], scores[N_LANES:]
        out[name] = {"class": lane_classes, "attr": lane_attributes, "class_mean": mean_of_shown(lane_classes),
                     "attr_mean": mean_of_shown(lane_attributes)}
    return out


def mean_of_shown(scores: list[float]) -> float | None:
    """The mean over the lanes some held-out clip shows (None for a lane none shows, and if none does)."""
    shown = [v for v in scores if v is not None]
    return float(np.mean(shown)) if shown else None
