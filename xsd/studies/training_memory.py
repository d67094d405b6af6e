"""Adapter training's memory: peak RSS of one epoch at two store sizes, each in a fresh process,
to show that training streams the store shard by shard (memory does not grow with its size)."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from xsd.cache import cached_json
from xsd.config import Profile, fingerprint
from xsd.locations import Locations
from xsd.processes import peak_rss_mb


def synthetic_store(root: Path, shards: int, shard_size: int, hidden: int, length: int, seed: int = 0):
    """A store of random records with the given shape (for memory benchmarks and tests)."""
    from xsd.store import HiddenStateStore, Record, StoreWriter

    generator = torch.Generator().manual_seed(seed)
    writer = StoreWriter(root, {"hidden_size": hidden, "synthetic": True}, shard_size=shard_size)
    for i in range(shards * shard_size):
        states = torch.randn(2, length, hidden, generator=generator).half()
        tokens = torch.randint(0, 64, (2, length), generator=generator)
        writer.add(Record(f"s{i:06d}", states[0], states[1], tokens[0], tokens[1]))
    writer.flush()
    return HiddenStateStore(root)


def training_peak_rss(name: str, shards: int, shard_size: int, hidden: int, length: int,
                      settings, seed: int = 0) -> dict:
    """Peak RSS (MB) of one training epoch of `name` on a synthetic store of `shards` shards,
    measured in a fresh subprocess so that nothing else this process holds is counted."""
    from dataclasses import asdict

    with tempfile.TemporaryDirectory() as folder:
        synthetic_store(Path(folder) / "store", shards, shard_size, hidden, length, seed)
        job = {"store": str(Path(folder) / "store"), "name": name, "folder": str(Path(folder) / "run"),
               "settings": {**asdict(settings), "max_epochs": 1}, "seed": seed}
        code = "import sys, json; from xsd.studies.training_memory import _rss_job; print(json.dumps(_rss_job(json.loads(sys.argv[1]))))"
        out = subprocess.run([sys.executable, "-c", code, json.dumps(job)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    data_mb = shards * shard_size * 2 * length * hidden * 2 / 2**20
    return {"adapter": name, "shards": shards, "samples": shards * shard_size, "store_mb": round(data_mb, 1), **result}


def _rss_job(job: dict) -> dict:
    """Child side of `training_peak_rss`: train one epoch, report peak RSS and throughput."""
    from xsd.config import AdaptersConfig
    from xsd.store import HiddenStateStore, hold_out
    from xsd.train_adapters import train_adapter

    train, val = hold_out(HiddenStateStore(Path(job["store"])))
    result = train_adapter(job["name"], train, val, AdaptersConfig(**job["settings"]), Path(job["folder"]),
                           seed=job["seed"], progress=False)
    return {"peak_rss_mb": peak_rss_mb(),
            "train_samples_per_s": result.samples_per_s}


def memory_benchmark(profile: Profile, name: str = "L5F", shards: int = 2, factor: int = 4,
                     refresh: bool = False) -> list[dict]:
    """Training peak RSS at `shards` and `factor`× as many shards of the profile's store shape
    (shard size, hidden size, answer length); cached by those settings."""
    from xsd.extract import open_store

    store = open_store(profile, "train")
    shape = {"shard_size": int(store.index["shard_size"]), "hidden": int(store.meta["hidden_size"]),
             "length": int(store.meta["max_new_tokens"])}
    key = fingerprint({"shape": shape, "name": name, "shards": shards, "factor": factor,
                       "settings": profile.adapters, "seed": profile.seed})
    return cached_json(Locations(profile).results("adapter_eval") / f"memory-{key}.json",
                       lambda: [training_peak_rss(name, n, settings=profile.adapters, seed=profile.seed, **shape)
                                for n in (shards, shards * factor)], refresh)


def memory_table(profile: Profile, shards: int = 2, name: str = "L5F"):
    """`memory_benchmark` as a table, one row per store size (indexed by shards)."""
    import pandas as pd

    return pd.DataFrame(memory_benchmark(profile, name=name, shards=shards)).set_index("shards")


def memory_growth_line(table) -> str:
    """How much peak RSS grows from the smallest store to the largest, beside how much the store grows."""
    growth = table["peak_rss_mb"].iloc[-1] - table["peak_rss_mb"].iloc[0]
    store = table["store_mb"].iloc[-1] - table["store_mb"].iloc[0]
    return f"peak RSS grows by {growth:.0f} MB while the store grows by {store:.0f} MB (half precision on disk)"
