"""The hidden-state store: safetensors shards plus a JSON index (DESIGN.md §3.1).

One record per (clip, question) sample holds both models' generations:

    h_egpt [T_e, H], h_vl [T_v, H]   last decoder layer after the final norm, float16
    tok_egpt [T_e], tok_vl [T_v]     the generated token ids (int64)

Alignment convention: h[t] is the state whose LM-head argmax is generated token t.

A shard stores its records concatenated along time with offsets, so records of any length share
one file. Shards are written whole (temp file, then rename) and the index is rewritten the same
way after each shard, so a killed writer loses at most the shard in progress; `StoreWriter`
reports which ids are already stored and a restarted job continues from there. Because shard
boundaries are counted from the start of a fixed sample order, the resumed store is identical to
an uninterrupted one.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

INDEX = "index.json"
FIELDS = ("h_egpt", "h_vl", "tok_egpt", "tok_vl")


class StoreError(ValueError):
    """A store that is missing, malformed, or written with other settings."""


def atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


@dataclass
class Record:
    id: str
    h_egpt: torch.Tensor
    h_vl: torch.Tensor
    tok_egpt: torch.Tensor
    tok_vl: torch.Tensor


class StoreWriter:
    """Append records; every `shard_size` records become one shard on disk."""

    def __init__(self, root: Path, meta: dict, shard_size: int = 256):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        self.index = self._open_index(meta)
        self.pending: list[Record] = []

    def _open_index(self, meta: dict) -> dict:
        path = self.root / INDEX
        if not path.exists():
            return {"meta": meta, "shard_size": self.shard_size, "shards": []}
        index = json.loads(path.read_text())
        if index["meta"] != meta or index["shard_size"] != self.shard_size:
            raise StoreError(
                f"{path} was written with other settings ({index['meta']}, shard size "
                f"{index['shard_size']}); remove {self.root} or use another output folder"
            )
        return index

    @property
    def stored_ids(self) -> set[str]:
        return {i for shard in self.index["shards"] for i in shard["ids"]}

    def add(self, record: Record) -> None:
        self.pending.append(record)
        if len(self.pending) == self.shard_size:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.write_shard(self.pending)
        self.pending = []

    def write_shard(self, records: list[Record]) -> None:
        """Write `records` as the next shard (atomically), then the index."""
        name = f"shard-{len(self.index['shards']):05d}.safetensors"
        ids = [r.id for r in records]
        temporary = self.root / (name + ".tmp")
        save_file(pack(records), str(temporary), metadata={"ids": json.dumps(ids)})
        os.replace(temporary, self.root / name)
        self.index["shards"].append({"file": name, "ids": ids, "bytes": (self.root / name).stat().st_size})
        atomic_write_text(self.root / INDEX, json.dumps(self.index, indent=1))


def pack(records: list[Record]) -> dict[str, torch.Tensor]:
    """Concatenate records field by field, with offsets [n + 1] per field."""
    tensors = {}
    for field in FIELDS:
        parts = [getattr(r, field) for r in records]
        lengths = torch.tensor([0] + [p.shape[0] for p in parts])
        tensors[field] = torch.cat(parts).contiguous()
        tensors[f"{field}_offsets"] = lengths.cumsum(0)
    return tensors


def unpack(tensors: dict[str, torch.Tensor], ids: list[str]) -> list[Record]:
    records = []
    for i, sample_id in enumerate(ids):
        values = {f: tensors[f][tensors[f"{f}_offsets"][i]:tensors[f"{f}_offsets"][i + 1]] for f in FIELDS}
        records.append(Record(id=sample_id, **values))
    return records


class HiddenStateStore:
    """Read a store shard by shard (memory stays bounded by one shard)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        path = self.root / INDEX
        if not path.is_file():
            raise StoreError(f"no hidden-state store at {self.root} (missing {INDEX}); run `xsd extract` first")
        try:
            self.index = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise StoreError(f"{path}: not valid JSON: {error}") from None

    @property
    def meta(self) -> dict:
        return self.index["meta"]

    @property
    def n_shards(self) -> int:
        return len(self.index["shards"])

    def __len__(self) -> int:
        return sum(len(s["ids"]) for s in self.index["shards"])

    @property
    def bytes(self) -> int:
        return sum(s["bytes"] for s in self.index["shards"])

    def shard(self, k: int) -> list[Record]:
        entry = self.index["shards"][k]
        path = self.root / entry["file"]
        try:
            tensors = load_file(str(path))
        except Exception as error:  # safetensors raises several types for damaged files
            raise StoreError(f"{path}: cannot read shard: {error}") from None
        return unpack(tensors, entry["ids"])

    def records(self):
        for k in range(self.n_shards):
            yield from self.shard(k)


class ShardView:
    """Some of a store's shards, read like a store (e.g. a validation hold-out)."""

    def __init__(self, store: HiddenStateStore, shards: list[int]):
        self.store, self.shards = store, list(shards)

    @property
    def meta(self) -> dict:
        return self.store.meta

    @property
    def n_shards(self) -> int:
        return len(self.shards)

    def __len__(self) -> int:
        return sum(len(self.store.index["shards"][k]["ids"]) for k in self.shards)

    def shard(self, k: int) -> list[Record]:
        return self.store.shard(self.shards[k])

    def records(self):
        for k in range(self.n_shards):
            yield from self.shard(k)


def hold_out(store: HiddenStateStore, shards: int = 1) -> tuple[ShardView, ShardView]:
    """(training view, validation view): the last `shards` shards are held out."""
    if store.n_shards <= shards:
        raise StoreError(f"{store.root} has {store.n_shards} shard(s): too few to hold {shards} out for validation")
    every = list(range(store.n_shards))
    return ShardView(store, every[:-shards]), ShardView(store, every[-shards:])


@dataclass
class Batch:
    """Padded tensors for a list of records; masks are True on real positions."""
    h_egpt: torch.Tensor   # [B, T, H] float32
    h_vl: torch.Tensor
    tok_egpt: torch.Tensor  # [B, T] int64 (0 where padded)
    tok_vl: torch.Tensor
    mask_egpt: torch.Tensor  # [B, T] bool
    mask_vl: torch.Tensor

    @property
    def mask_pair(self) -> torch.Tensor:
        """Positions where both streams exist (per-position alignment)."""
        return self.mask_egpt & self.mask_vl


def collate(records: list[Record], length: int | None = None) -> Batch:
    length = length or max(max(len(r.tok_egpt), len(r.tok_vl)) for r in records)
    hidden = records[0].h_vl.shape[-1]

    def pad_states(field):
        out = torch.zeros(len(records), length, hidden)
        for i, r in enumerate(records):
            values = getattr(r, field)[:length]
            out[i, :len(values)] = values.float()
        return out

    def pad_tokens(field):
        out = torch.zeros(len(records), length, dtype=torch.long)
        mask = torch.zeros(len(records), length, dtype=torch.bool)
        for i, r in enumerate(records):
            values = getattr(r, field)[:length]
            out[i, :len(values)], mask[i, :len(values)] = values, True
        return out, mask

    tok_egpt, mask_egpt = pad_tokens("tok_egpt")
    tok_vl, mask_vl = pad_tokens("tok_vl")
    return Batch(pad_states("h_egpt"), pad_states("h_vl"), tok_egpt, tok_vl, mask_egpt, mask_vl)
