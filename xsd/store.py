"""The hidden-state store: safetensors shards plus a JSON index (methods §1).

One record per (clip, question) sample holds both models' generations:

    h_egpt [T_e, H], h_vl [T_v, H]   last decoder layer after the final norm, float16
    tok_egpt [T_e], tok_vl [T_v]     the generated token ids (int64)

Alignment convention: h[t] is the state whose LM-head argmax is generated token t.

A shard stores its records concatenated along time with offsets, so records of any length share
one file. The samples are cut into chunks of `shard_size` counted from the start of a fixed sample
order, and chunk c is written as shard c (`shard-0000c.safetensors`), whole (a temp file of its
own, then a rename), so a killed writer loses at most the chunk in progress and a resumed store is identical to
an uninterrupted one. Several processes may write one store at once, each its own chunks (`xsd
extract --shard i/n`): the shared files (the index, the extraction's manifest) are read, merged
and replaced under a file lock (`fcntl.flock` on `index.lock`), so the store must live on a file
system whose locks hold across the writers' machines (a local disk, NFSv4, GPFS, Lustre mounted
with `flock`). An index that counts chunks (`chunks`, `chunks_done`) tells a finished store from
a partial one: `HiddenStateStore` refuses a partial one unless asked for it (`partial=True`).

One module, a little over 300 lines: the store's writer and its readers share one file format.
"""
from __future__ import annotations

import fcntl
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from xsd.cache import atomic_save_file, atomic_write_text

INDEX = "index.json"
LOCK = "index.lock"
FIELDS = ("h_egpt", "h_vl", "tok_egpt", "tok_vl")


class StoreError(ValueError):
    """A store that is missing, malformed, incomplete, or written with other settings."""


@contextmanager
def locked(root: Path):
    """Hold the store's lock: the writers of other processes wait here until it is released."""
    with open(Path(root) / LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Record:
    id: str
    h_egpt: torch.Tensor
    h_vl: torch.Tensor
    tok_egpt: torch.Tensor
    tok_vl: torch.Tensor


class StoreWriter:
    """Write a store chunk by chunk; processes that write one store at once each take their own chunks.

    With `chunks` (how many the sample order has), the index also lists the chunks done, and the
    store counts as complete once all are. Without it (a store filled by `add`), it always does.
    """

    def __init__(self, root: Path, meta: dict, shard_size: int = 256, chunks: int | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.shard_size, self.chunks = shard_size, chunks
        with locked(self.root):
            self.index = self._open_index(meta)
        self.pending: list[Record] = []

    def _open_index(self, meta: dict) -> dict:
        path = self.root / INDEX
        if path.exists():
            index = json.loads(path.read_text())
            if index["meta"] != meta or index["shard_size"] != self.shard_size:
                raise StoreError(
                    f"{path} was written with other settings ({index['meta']}, shard size "
                    f"{index['shard_size']}); remove {self.root} or use another output folder"
                )
            if self.chunks is None or "chunks" in index:
                return index
        else:
            index = {"meta": meta, "shard_size": self.shard_size, "shards": []}
        if self.chunks is not None:  # a new store, or one begun before chunks were counted
            index.update(chunks=self.chunks, chunks_done=[])
        atomic_write_text(path, json.dumps(index, indent=1))
        return index

    def _read_index(self) -> dict:
        """The index as on disk now: other processes may have added chunks since we last looked."""
        self.index = json.loads((self.root / INDEX).read_text())
        return self.index

    @property
    def stored_ids(self) -> set[str]:
        return {i for shard in self._read_index()["shards"] for i in shard["ids"]}

    @property
    def chunks_done(self) -> set[int]:
        return set(self._read_index().get("chunks_done", ()))

    def add(self, record: Record) -> None:
        self.pending.append(record)
        if len(self.pending) == self.shard_size:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.write_shard(self.pending)
        self.pending = []

    def write_shard(self, records: list[Record]) -> None:
        """Write `records` as the next shard (for a store that one process fills in order)."""
        self.write_chunk(len(self._read_index()["shards"]), records)

    def write_chunk(self, chunk: int, records: list[Record]) -> None:
        """Store chunk `chunk`'s records (none when all its samples failed) as its shard, then list it
        in the index as done. Writing a chunk again replaces it."""
        name = f"shard-{chunk:05d}.safetensors"
        entry = None
        if records:
            ids = [r.id for r in records]
            atomic_save_file(pack(records), self.root / name, metadata={"ids": json.dumps(ids)})
            entry = {"file": name, "ids": ids, "bytes": (self.root / name).stat().st_size}
        with locked(self.root):
            index = self._read_index()
            shards = [s for s in index["shards"] if s["file"] != name] + ([entry] if entry else [])
            # chunk order whoever wrote first (by length too: chunk 100000 has six digits)
            index["shards"] = sorted(shards, key=lambda s: (len(s["file"]), s["file"]))
            self._write_done(index, {chunk})

    def mark_done(self, chunks: set[int]) -> None:
        """List chunks as done that are already stored (by a run from before chunks were counted)."""
        with locked(self.root):
            index = self._read_index()
            if not chunks <= set(index.get("chunks_done", ())):
                self._write_done(index, chunks)

    def _write_done(self, index: dict, chunks: set[int]) -> None:
        if "chunks" in index:
            index["chunks_done"] = sorted(set(index["chunks_done"]) | chunks)
        atomic_write_text(self.root / INDEX, json.dumps(index, indent=1))


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
    """Read a store shard by shard (memory stays bounded by one shard).

    A store whose chunks are not all extracted yet (shard processes still running, or killed)
    raises StoreError, unless `partial=True` asks to read what is there."""

    def __init__(self, root: Path, partial: bool = False):
        self.root = Path(root)
        path = self.root / INDEX
        if not path.is_file():
            raise StoreError(f"no hidden-state store at {self.root} (missing {INDEX}); run `xsd extract` first")
        try:
            self.index = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise StoreError(f"{path}: not valid JSON: {error}") from None
        if not partial and not self.complete:
            missing = self.missing_chunks
            raise StoreError(
                f"{self.root} is incomplete: {len(missing)} of {self.index['chunks']} chunks not extracted "
                f"yet ({_some(missing)}); finish it with `xsd extract` (every `--shard i/n` of the run, "
                "or once without --shard)"
            )

    @property
    def missing_chunks(self) -> list[int]:
        """Chunks of the sample order not stored yet (none for a store that does not count chunks)."""
        done = set(self.index.get("chunks_done", ()))
        return [c for c in range(self.index.get("chunks", 0)) if c not in done]

    @property
    def complete(self) -> bool:
        return not self.missing_chunks

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


def _some(chunks: list[int], shown: int = 8) -> str:
    listed = ", ".join(map(str, chunks[:shown]))
    return f"chunks {listed}" + (f" and {len(chunks) - shown} more" if len(chunks) > shown else "")


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
    """Pad records to one length. States are padded with zero rows: past the end of the draft's
    answer a head reads exactly the zero rows the live decoder's `EgptFeed` gives it there."""
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
