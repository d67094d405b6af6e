"""Extraction from raw clips into the hidden-state store (slow: builds a smoke world and models)."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from xsd import paths
from xsd.cli import main
from xsd.extract import MANIFEST, REPORT, extract, load_lm_head, open_store
from xsd.locations import Locations
from xsd.store import FIELDS, HiddenStateStore, StoreError

pytestmark = pytest.mark.slow


def test_alignment_convention_holds_for_every_stored_state(smoke_data):
    extract(smoke_data, "test", progress=False)
    store = open_store(smoke_data, "test")
    lm_head = load_lm_head(smoke_data)
    assert len(store) == smoke_data.extract.test_samples
    for record in store.records():
        assert len(record.tok_vl) == record.h_vl.shape[0] <= smoke_data.extract.max_new_tokens
        predicted = (record.h_vl.float() @ lm_head.float().T).argmax(dim=-1)
        assert torch.equal(predicted, record.tok_vl)  # lm_head(h_vl[t]).argmax() == tok_vl[t]


def test_a_killed_extraction_resumes_to_the_identical_store(smoke_data, tmp_path, monkeypatch):
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "straight"))
    extract(smoke_data, "train", progress=False)
    straight = Locations(smoke_data).store("train")
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "resumed"))
    extract(smoke_data, "train", progress=False, stop_after_chunks=1)
    assert open_store(smoke_data, "train", partial=True).n_shards == 1
    extract(smoke_data, "train", progress=False)
    resumed = Locations(smoke_data).store("train")
    assert json.loads((straight / "index.json").read_text()) == json.loads((resumed / "index.json").read_text())
    for shard in sorted(straight.glob("shard-*.safetensors")):
        assert shard.read_bytes() == (resumed / shard.name).read_bytes()


def test_corrupt_inputs_are_recorded_in_the_manifest(smoke_data, tmp_path, monkeypatch):
    world = paths.world_dir("smoke")
    copy = tmp_path / "data"
    shutil.copytree(world, copy / "worlds" / "smoke")
    monkeypatch.setenv("XSD_DATA_ROOT", str(copy))
    monkeypatch.setenv("XSD_MODELS", str(world.parents[1] / "models"))  # the fixture's trained models
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "cache"))
    from xsd.extract import chosen_samples
    from xsd.world.dataset import WorldDataset

    dataset = WorldDataset(copy / "worlds" / "smoke", "test")
    sample = chosen_samples(dataset, smoke_data.extract.test_samples, smoke_data.seed)[0]
    broken = copy / "worlds" / "smoke" / "event_image" / sample.seq / f"{sample.clip}_0.png"
    broken.write_bytes(b"not a png")
    report = extract(smoke_data, "test", progress=False)
    manifest = json.loads((Locations(smoke_data).store("test") / MANIFEST).read_text())
    assert sample.id in manifest and broken.name in manifest[sample.id]
    assert report["failed"] == len(manifest) > 0
    assert sample.id not in {r.id for r in open_store(smoke_data, "test").records()}


def _same_store(one, other):
    """Same index, and sample for sample the same ids, tokens and (bit-identical) states."""
    assert json.loads((one / "index.json").read_text()) == json.loads((other / "index.json").read_text())
    for a, b in zip(HiddenStateStore(one).records(), HiddenStateStore(other).records(), strict=True):
        assert a.id == b.id
        for field in FIELDS:
            assert torch.equal(getattr(a, field), getattr(b, field)), (a.id, field)
    for shard in sorted(one.glob("shard-*.safetensors")):
        assert shard.read_bytes() == (other / shard.name).read_bytes()


def test_two_shard_processes_write_the_store_one_process_writes(smoke_data, tmp_path, monkeypatch):
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "one"))
    extract(smoke_data, "train", progress=False)
    one = Locations(smoke_data).store("train")
    env = {**os.environ, "XSD_CACHE": str(tmp_path / "two")}
    processes = [subprocess.Popen([sys.executable, "-m", "xsd", "extract", "--profile", "smoke", "--split", "train",
                                   "--shard", f"{i}/2"], env=env, text=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for i in range(2)]  # at once: both write the index
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    assert [r["chunks_this_run"] for r in reports] == [[0], [1]]  # each process wrote its own shard
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "two"))
    two = Locations(smoke_data).store("train")
    assert len(HiddenStateStore(two)) == smoke_data.extract.train_samples
    _same_store(one, two)
    assert (two / REPORT).is_file()  # what pipeline.ensure_stores takes for done
    assert not list(two.glob("*.tmp"))


def test_on_a_cpu_each_extraction_thread_is_a_shard_process(smoke_data, tmp_path, monkeypatch, process_calls):
    """`ensure_stores`' path: with two extraction threads, two one-thread processes share both
    splits' chunks, and each store is the one a single process writes."""
    import dataclasses

    from xsd import extract as extraction

    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "one"))
    extract(smoke_data, "train", progress=False)
    extract(smoke_data, "test", progress=False)
    one = {split: Locations(smoke_data).store(split) for split in ("train", "test")}
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "two"))
    two_threads = dataclasses.replace(smoke_data, extract=dataclasses.replace(smoke_data.extract, threads=2))
    reports = extraction.extract_splits(two_threads, ["train", "test"], progress=False)
    assert process_calls == [("_extract_shard", [(str(smoke_data.source or "smoke"), split, False, (i, 2))
                                         for split in ("train", "test") for i in range(2)], 2)]
    assert [r["shard"] for r in reports] == ["0/2", "1/2"] * 2
    for split in ("train", "test"):
        two = Locations(smoke_data).store(split)
        assert (two / REPORT).is_file()
        _same_store(one[split], two)


def test_a_store_with_some_shards_missing_is_incomplete(smoke_data, tmp_path, monkeypatch):
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "cache"))
    report = extract(smoke_data, "train", progress=False, shard=(0, 2))
    root = Locations(smoke_data).store("train")
    assert report["chunks_this_run"] == [0] and not report["complete"] and report["missing_chunks"] == [1]
    assert not (root / REPORT).exists()
    with pytest.raises(StoreError, match=r"incomplete: 1 of 2 chunks not extracted yet \(chunks 1\)"):
        open_store(smoke_data, "train")
    assert open_store(smoke_data, "train", partial=True).n_shards == 1
    report = extract(smoke_data, "train", progress=False, shard=(1, 2))
    assert report["chunks_this_run"] == [1] and report["complete"] and (root / REPORT).is_file()
    assert len(open_store(smoke_data, "train")) == smoke_data.extract.train_samples


def test_a_shard_with_no_chunks_leaves_the_measured_report(smoke_data, tmp_path, monkeypatch):
    """Three shard processes over a split of two chunks: the third extracts nothing, and ending
    last it keeps the report (and its rate) of the process that completed the store."""
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "cache"))
    root = Locations(smoke_data).store("train")
    for i in range(2):
        extract(smoke_data, "train", progress=False, shard=(i, 3))
    measured = json.loads((root / REPORT).read_text())
    assert measured["shard"] == "1/3" and measured["samples_per_s_this_run"] > 0
    idle = extract(smoke_data, "train", progress=False, shard=(2, 3))
    assert idle["chunks_this_run"] == [] and idle["complete"] and idle["samples_per_s_this_run"] is None
    assert json.loads((root / REPORT).read_text()) == measured


@pytest.mark.parametrize("value, problem", [
    ("2/2", "i must be in 0..1"), ("-1/2", "i must be in 0..1"), ("0/0", "must be at least 1"),
    ("1", "expected i/n"), ("a/b", "expected i/n"),
])
def test_a_bad_shard_value_is_a_usage_error(value, problem, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["extract", "--profile", "smoke", f"--shard={value}"])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and "usage: xsd extract" in error
    assert "argument --shard: " in error and problem in error
