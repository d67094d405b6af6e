"""Hidden-state extraction (methods §1): both models answer every sample greedily, with states.

For each (clip, question) sample the draft reads its event frame(s) and the target its 8 video
frames; each generates up to N new tokens. The store keeps both token sequences and the last
decoder layer's states after the final norm (float16), aligned so that `lm_head(h[t]).argmax()
== tok[t]`. Samples are processed in fixed chunks of `shard_size` (chunk c → shard c), in
batches that never straddle a chunk, so a killed run restarted with the same arguments redoes at
most the chunk in progress and ends with the same store as an uninterrupted one. A sample whose
inputs cannot be read is recorded in `manifest.json` with the reason, never skipped silently.
The target's LM head is saved beside the store for the offline token metrics.

Failed samples are retried: a chunk with a sample in the manifest counts as done (the store is
complete and readable without it), but every run redoes it whole, the same batches as a first
run, so once its input is repaired the chunk's shard is the one an intact input gives and the
rest of the store is untouched. The manifest then keeps only the samples that still fail. A run
with failures says so (`failures` in the report; `xsd extract` prints their reasons and exits 1).

Scaling out: `extract(..., shard=(i, n))` (`xsd extract --shard i/n`) extracts only the chunks c
with c % n == i, so n processes (one per GPU, node or SLURM array task, each passing its own
rank i and the same world size n) fill one store together, each resumable on its own. Each
writes whole shards of its own; the index and the manifest they share are merged under the
store's file lock (see `xsd.store`). The store is complete, and `report.json` (what
`pipeline.ensure_stores` looks for) is written, by the run that extracts its last missing chunk;
until then `HiddenStateStore` refuses it as incomplete. Which process did which chunk does not
change the store: it is identical, file for file, to the one a single process writes.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from xsd.cache import atomic_save_file, atomic_write_text
from xsd.config import Profile
from xsd.locations import Locations
from xsd.models.generate import generate_batch
from xsd.store import HiddenStateStore, Record, StoreWriter, locked

MANIFEST = "manifest.json"
REPORT = "report.json"
LM_HEAD = "lm_head_vl.safetensors"


def open_store(profile: Profile, split: str, partial: bool = False) -> HiddenStateStore:
    """The split's store; StoreError while chunks are missing, unless `partial`."""
    return HiddenStateStore(Locations(profile).store(split), partial=partial)


def parse_shard(text: str) -> tuple[int, int]:
    """`"i/n"` → (i, n); ValueError saying what is wrong."""
    match = re.fullmatch(r"\s*(-?\d+)\s*/\s*(-?\d+)\s*", text)
    if not match:
        raise ValueError(f"expected i/n, this process's index and the number of processes (e.g. 0/2), not {text!r}")
    return check_shard((int(match[1]), int(match[2])))


def check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    index, count = shard
    if count < 1:
        raise ValueError(f"shard {index}/{count}: n, the number of processes, must be at least 1")
    if not 0 <= index < count:
        raise ValueError(f"shard {index}/{count}: i must be in 0..{count - 1} (0 ≤ i < n)")
    return index, count


def chosen_samples(dataset, limit: int, seed: int) -> list:
    """A seeded subset of the split, or of a list of its samples (all when limit ≤ 0), in order."""
    samples = list(getattr(dataset, "samples", dataset))
    if limit <= 0 or limit >= len(samples):
        return samples
    keep = np.sort(np.random.default_rng(seed).permutation(len(samples))[:limit])
    return [samples[int(i)] for i in keep]


# -- the run --------------------------------------------------------------------------------------

def extract_splits(profile: Profile, splits: list[str], progress: bool = True) -> list[dict]:
    """The stores of `splits` (reports as `extract`'s). On a CPU the profile's extraction threads
    become as many processes of one thread each, which share every split's chunks as shards: tiny
    models keep one thread each busier than two threads in one process. Elsewhere one process."""
    from xsd.device import resolve
    from xsd.processes import run_in_processes

    jobs = profile.extract.threads if resolve(None, profile).type == "cpu" else 1
    if jobs <= 1:
        return [extract(profile, split, progress) for split in splits]
    tasks = [(str(profile.source or profile.name), split, progress, (index, jobs))
             for split in splits for index in range(jobs)]
    return run_in_processes(_extract_shard, tasks, jobs)


def _extract_shard(profile_ref: str, split: str, progress: bool, shard: tuple[int, int]) -> dict:
    from xsd.config import load_profile

    return extract(load_profile(profile_ref), split, progress, shard=shard, threads=1)


def extract(profile: Profile, split: str, progress: bool = True, stop_after_chunks: int | None = None,
            shard: tuple[int, int] = (0, 1), device=None, threads: int | None = None) -> dict:
    """Extract (or resume extracting) the store of a split; returns the run's report.

    `shard=(i, n)`: only the chunks c with c % n == i, into the store the other n - 1 processes
    fill too. The report's `complete` says whether every chunk of the split is stored now. The
    models run on `device` (None: the profile's); the store is the same on every device up to the
    device's arithmetic. `threads`: torch's CPU threads (None: the profile's)."""
    from tqdm import tqdm

    from xsd.models.registry import built_world, load_models
    from xsd.world.dataset import WorldDataset

    index, count = check_shard(shard)
    settings = profile.extract
    torch.set_num_threads(threads or settings.threads)
    pair = load_models(profile, device=device)
    dataset = WorldDataset(built_world(profile), split, event_frames=profile.models.event_frames)
    limit = settings.train_samples if split == "train" else settings.test_samples
    samples = chosen_samples(dataset, limit, profile.seed)
    root = Locations(profile).store(split)
    hidden = pair.target.config.text_config.hidden_size
    meta = {"profile": profile.name, "split": split, "hidden_size": hidden,
            "max_new_tokens": settings.max_new_tokens, "n_samples": len(samples)}
    chunks = [samples[i:i + settings.shard_size] for i in range(0, len(samples), settings.shard_size)]
    writer = StoreWriter(root, meta, shard_size=settings.shard_size, chunks=len(chunks))
    atomic_save_file({"weight": pair.target.get_output_embeddings().weight.detach().cpu().contiguous()}, root / LM_HEAD)
    mine = range(index, len(chunks), count)
    todo = _chunks_to_do(writer, chunks, mine, root)
    failed_before = _failures_in(root, chunks, todo)
    start, processed = time.perf_counter(), 0
    bar = tqdm(total=sum(len(chunks[c]) for c in mine), initial=sum(len(chunks[c]) for c in mine if c not in todo),
               desc=f"extract {split}" + (f" {index}/{count}" if count > 1 else ""), unit="sample",
               disable=not progress)
    this_run = todo[:stop_after_chunks]
    for c in this_run:
        records, failures = _extract_chunk(pair, dataset, chunks[c], settings, bar)
        _record_failures(root, failures)  # before the index lists the chunk as done
        writer.write_chunk(c, records)
        _forget_failures(root, {r.id for r in records})  # retried samples now stored (after their shard)
        processed += len(chunks[c])
    bar.close()
    seconds = time.perf_counter() - start
    report = _finish(profile, split, root, (index, count), this_run, processed / seconds if processed else None)
    retried = {i for c in this_run for i in _failures_in(root, chunks, [c], failed_before)}
    still = _failures_in(root, chunks, mine)
    report.update(retried=len(retried), retried_still_failing=len(retried & set(still)), failures=still,
                  manifest=str(root / MANIFEST))
    return report


def _chunks_to_do(writer: StoreWriter, chunks: list[list], mine: range, root: Path) -> list[int]:
    """The chunks of `mine` not done yet, and those with failed samples to retry, in order."""
    # a chunk whose samples are all stored or failed is done even where the index does not list it
    # (a store begun before the index listed finished chunks)
    failed = set(_read_manifest(root))
    finished = writer.stored_ids | failed
    writer.mark_done({c for c, chunk in enumerate(chunks) if {s.id for s in chunk} <= finished})
    done = writer.chunks_done
    return [c for c in mine if c not in done or any(s.id in failed for s in chunks[c])]


def _failures_in(root: Path, chunks: list[list], which, manifest: dict | None = None) -> dict:
    """The manifest's failures (id → reason) among the samples of chunks `which`."""
    manifest = _read_manifest(root) if manifest is None else manifest
    return {s.id: manifest[s.id] for c in which for s in chunks[c] if s.id in manifest}


def _extract_chunk(pair, dataset, chunk: list, settings, bar) -> tuple[list[Record], dict]:
    """The chunk's records and its unreadable samples (id → reason), batch by batch."""
    records, failures = [], {}
    for i in range(0, len(chunk), settings.batch_size):
        batch = chunk[i:i + settings.batch_size]
        records += _extract_batch(pair, dataset, batch, settings.max_new_tokens, failures)
        bar.update(len(batch))
    return records, failures


def _record_failures(root: Path, failures: dict) -> None:
    """Merge a chunk's failures into the manifest, which the other shard processes write too."""
    with locked(root):
        manifest = {**_read_manifest(root), **failures}
        atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))


def _forget_failures(root: Path, stored: set[str]) -> None:
    """Drop samples from the manifest that a retry has stored."""
    with locked(root):
        manifest = _read_manifest(root)
        if stored & set(manifest):
            manifest = {i: reason for i, reason in manifest.items() if i not in stored}
            atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))


def _finish(profile: Profile, split: str, root: Path, shard: tuple[int, int], extracted: list[int],
            samples_per_s: float | None) -> dict:
    """The run's report; written as report.json once the store is complete."""
    settings = profile.extract
    store = HiddenStateStore(root, partial=True)
    report = {
        "profile": profile.name, "split": split, "samples": len(store), "failed": len(_read_manifest(root)),
        "bytes_per_sample": store.bytes / max(len(store), 1), "total_bytes": store.bytes,
        "samples_per_s_this_run": samples_per_s, "shard": "{}/{}".format(*shard),
        "chunks_this_run": extracted, "complete": store.complete, "missing_chunks": store.missing_chunks,
        "threads": torch.get_num_threads(), "batch_size": settings.batch_size, "settings": asdict(settings),
        "store": str(root),
    }
    # a shard process with nothing to extract (fewer chunks than processes) must not replace the
    # report of the one that measured the rate, whichever of them ends last
    if store.complete and (extracted or not (root / REPORT).exists()):
        atomic_write_text(root / REPORT, json.dumps(report, indent=1))
    return report


def _extract_batch(pair, dataset, batch: list, max_new_tokens: int, failures: dict) -> list[Record]:
    from xsd.world.layout import DataError

    readable, inputs = [], {"draft": [], "target": []}
    for sample in batch:
        try:
            draft = pair.sample_inputs("draft", dataset, sample)
            target = pair.sample_inputs("target", dataset, sample)
        except (DataError, OSError, ValueError) as error:
            failures[sample.id] = f"{type(error).__name__}: {error}"
            continue
        readable.append(sample)
        inputs["draft"].append(draft)
        inputs["target"].append(target)
    if not readable:
        return []
    drafts = generate_batch(pair, "draft", inputs["draft"], max_new_tokens)
    targets = generate_batch(pair, "target", inputs["target"], max_new_tokens)
    return [Record(s.id, h_e.half(), h_v.half(), t_e, t_v)
            for s, (t_e, h_e), (t_v, h_v) in zip(readable, drafts, targets)]


def _read_manifest(root: Path) -> dict:
    path = root / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def load_lm_head(profile: Profile, split: str = "test") -> torch.Tensor:
    """The target's LM head [V, H], saved beside the split's store."""
    from safetensors.torch import load_file

    return load_file(str(Locations(profile).store(split) / LM_HEAD))["weight"]
