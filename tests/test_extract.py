"""Extraction from raw clips into the hidden-state store (slow: builds a smoke world and models)."""
import json
import shutil

import pytest
import torch

from xsd import paths
from xsd.extract import MANIFEST, extract, load_lm_head, open_store, store_dir

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
    straight = store_dir(smoke_data, "train")
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "resumed"))
    extract(smoke_data, "train", progress=False, stop_after_chunks=1)
    assert open_store(smoke_data, "train").n_shards == 1
    extract(smoke_data, "train", progress=False)
    resumed = store_dir(smoke_data, "train")
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
    manifest = json.loads((store_dir(smoke_data, "test") / MANIFEST).read_text())
    assert sample.id in manifest and broken.name in manifest[sample.id]
    assert report["failed"] == len(manifest) > 0
    assert sample.id not in {r.id for r in open_store(smoke_data, "test").records()}
