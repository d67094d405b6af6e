import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from xsd.config import AdaptersConfig
from xsd.store import HiddenStateStore, Record, StoreError, StoreWriter, collate
from xsd.fit import CheckpointError
from xsd.locations import adapter_recipe
from xsd.train_adapters import load_adapter, train_adapter

H = 32


def _records(n, seed=0):
    """Synthetic pairs where the target's state is a fixed smooth function of the draft's."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(H, H, generator=torch.Generator().manual_seed(99)) / H ** 0.5
    records = []
    for i in range(n):
        t_e, t_v = 5 + i % 4, 6 + i % 3
        h_egpt = torch.randn(t_e, H, generator=generator)
        h_vl = torch.tanh(torch.randn(t_v, H, generator=generator) * 0.1 + torch.nn.functional.pad(
            h_egpt @ mixing, (0, 0, 0, max(0, t_v - t_e)))[:t_v])
        records.append(Record(f"s{i:03d}", h_egpt.half(), h_vl.half(),
                              torch.randint(0, 50, (t_e,), generator=generator),
                              torch.randint(0, 50, (t_v,), generator=generator)))
    return records


def _write(root, records, shard_size=4, stop_after=None):
    writer = StoreWriter(root, meta={"hidden_size": H}, shard_size=shard_size)
    done = writer.stored_ids
    for k, record in enumerate(r for r in records if r.id not in done):
        if stop_after is not None and k == stop_after:
            return writer  # "killed": pending records never reach the disk
        writer.add(record)
    writer.flush()
    return writer


def test_store_round_trip(tmp_path):
    records = _records(10)
    _write(tmp_path, records)
    store = HiddenStateStore(tmp_path)
    assert len(store) == 10 and store.n_shards == 3 and store.bytes > 0
    for original, loaded in zip(records, store.records()):
        assert original.id == loaded.id
        for field in ("h_egpt", "h_vl", "tok_egpt", "tok_vl"):
            assert torch.equal(getattr(original, field), getattr(loaded, field))


def test_a_killed_writer_resumes_to_the_identical_store(tmp_path):
    records = _records(11)
    _write(tmp_path / "once", records)
    _write(tmp_path / "twice", records, stop_after=6)  # 1 shard written, 2 records lost
    assert HiddenStateStore(tmp_path / "twice").n_shards == 1
    _write(tmp_path / "twice", records)
    once, twice = (tmp_path / "once"), (tmp_path / "twice")
    assert json.loads((once / "index.json").read_text()) == json.loads((twice / "index.json").read_text())
    for shard in sorted(once.glob("*.safetensors")):
        assert shard.read_bytes() == (twice / shard.name).read_bytes()


def test_store_errors_are_clear(tmp_path):
    with pytest.raises(StoreError, match="no hidden-state store"):
        HiddenStateStore(tmp_path)
    _write(tmp_path, _records(4))
    with pytest.raises(StoreError, match="other settings"):
        StoreWriter(tmp_path, meta={"hidden_size": 64}, shard_size=4)
    (tmp_path / "shard-00000.safetensors").write_bytes(b"garbage")
    with pytest.raises(StoreError, match="shard-00000.safetensors"):
        HiddenStateStore(tmp_path).shard(0)


def test_a_store_counting_chunks_is_complete_once_every_chunk_is_done(tmp_path):
    records = _records(10)
    _write(tmp_path / "once", records)
    _write(tmp_path / "chunks", records[:4])  # begun before chunks were counted
    writer = StoreWriter(tmp_path / "chunks", meta={"hidden_size": H}, shard_size=4, chunks=3)
    writer.mark_done({0})
    writer.write_chunk(2, records[8:])  # chunks may finish in any order
    with pytest.raises(StoreError, match=r"incomplete: 1 of 3 chunks not extracted yet \(chunks 1\)"):
        HiddenStateStore(tmp_path / "chunks")
    assert HiddenStateStore(tmp_path / "chunks", partial=True).missing_chunks == [1]
    writer.write_chunk(1, records[4:8])
    store = HiddenStateStore(tmp_path / "chunks")
    assert store.complete and [r.id for r in store.records()] == [r.id for r in records]
    for shard in sorted((tmp_path / "once").glob("*.safetensors")):
        assert shard.read_bytes() == (tmp_path / "chunks" / shard.name).read_bytes()


def test_collate_pads_and_masks():
    batch = collate(_records(3))
    assert batch.h_egpt.shape == (3, 8, H)
    assert batch.mask_egpt.sum(dim=1).tolist() == [5, 6, 7]
    assert batch.mask_vl.sum(dim=1).tolist() == [6, 7, 8]
    assert (batch.mask_pair == (batch.mask_egpt & batch.mask_vl)).all()


def _short_draft_batch():
    """Two samples whose draft answers (3 and 5 tokens) end before the target's (8 and 6)."""
    generator = torch.Generator().manual_seed(5)
    records = [Record(f"s{i}", torch.randn(t_e, H, generator=generator), torch.randn(t_v, H, generator=generator),
                      torch.randint(0, 50, (t_e,), generator=generator),
                      torch.randint(0, 50, (t_v,), generator=generator))
               for i, (t_e, t_v) in enumerate([(3, 8), (5, 6)])]
    return collate(records), records


def test_collate_pads_the_drafts_states_with_zero_rows():
    batch, records = _short_draft_batch()
    for i, record in enumerate(records):
        assert torch.equal(batch.h_egpt[i, :len(record.h_egpt)], record.h_egpt)
        assert not batch.h_egpt[i, len(record.h_egpt):].any()


def test_every_head_reads_the_targets_positions_and_zero_draft_rows_past_the_drafts_end():
    from xsd.decode.drafters import EgptFeed
    from xsd.train_adapters import head_inputs

    from xsd.adapters import create_adapter

    heads = {name: create_adapter(name, 32, heads=2) for name in ("L5", "B1", "L5F")}
    batch, records = _short_draft_batch()
    masks = {name: head_inputs(head, batch)[1] for name, head in heads.items()}
    for name, mask in masks.items():
        assert torch.equal(mask, batch.mask_vl), name
    assert int(masks["L5F"].sum()) == int(masks["B1"].sum()) == 8 + 6  # not the 3 + 5 where both answers exist
    (egpt, vl), _ = head_inputs(heads["L5F"], batch)
    assert torch.equal(vl, batch.h_vl)
    for i, record in enumerate(records):  # the rows the live decoder's feed gives, position by position
        feed = EgptFeed.complete(record.h_egpt)
        assert torch.equal(egpt[i], torch.stack([feed.get(t) for t in range(egpt.shape[1])]))
        assert not egpt[i, len(record.h_egpt):].any()
    batch.h_egpt[~batch.mask_egpt] = 7.0  # a batch holding something else past the draft's answer
    assert torch.equal(head_inputs(heads["L5F"], batch)[0][0], egpt)
    assert torch.equal(head_inputs(heads["L5"], batch)[0][0], egpt)


@pytest.mark.parametrize("name", ["L5", "L5F"])
def test_heads_are_trained_past_the_end_of_the_drafts_answer(name):
    from xsd.adapters import create_adapter
    from xsd.train_adapters import adapter_loss

    torch.manual_seed(0)
    adapter = create_adapter(name, H, heads=2).eval()
    batch, _ = _short_draft_batch()
    with torch.no_grad():
        before = adapter_loss(adapter, name, batch, SETTINGS)
        batch.h_vl[0, 6] += 1.0  # the target's state at position 6; the draft's answer ended at 3
        assert adapter_loss(adapter, name, batch, SETTINGS) != before


SETTINGS = AdaptersConfig(lr=3e-3, batch_size=4, max_epochs=3, patience=10, threads=1,
                          sizes={"L4": {"heads": 2}, "L5": {"heads": 2}, "B1": {"heads": 2}, "L5F": {"heads": 2}})


@pytest.fixture
def stores(tmp_path):
    _write(tmp_path / "train", _records(24, seed=0), shard_size=8)
    _write(tmp_path / "val", _records(8, seed=1), shard_size=8)
    return HiddenStateStore(tmp_path / "train"), HiddenStateStore(tmp_path / "val")


@pytest.mark.parametrize("name", ["L1", "L4", "L5F"])
def test_training_lowers_the_validation_loss(stores, tmp_path, name):
    result = train_adapter(name, *stores, SETTINGS, tmp_path / name, seed=0, progress=False)
    curves = json.loads((tmp_path / name / "curves.json").read_text())
    assert len(curves) == 3 and result.epochs == 3
    assert curves[-1]["val_loss"] < curves[0]["val_loss"]
    adapter, config = load_adapter(tmp_path / name, name=name, hidden_size=H)
    assert config["adapter"] == name and not adapter.training


class Killed(Exception):
    """Raised from a progress callback, as a kill would end the run there."""


def _kill_after_first_epoch(point):
    if point["epoch"] == 1:
        raise Killed


def test_resumed_training_equals_an_uninterrupted_run(stores, tmp_path):
    train_adapter("L2", *stores, SETTINGS, tmp_path / "straight", seed=3, progress=False)
    with pytest.raises(Killed):
        train_adapter("L2", *stores, SETTINGS, tmp_path / "resumed", seed=3, progress=False,
                      on_epoch=_kill_after_first_epoch)
    assert len(json.loads((tmp_path / "resumed" / "curves.json").read_text())) == 1
    train_adapter("L2", *stores, SETTINGS, tmp_path / "resumed", seed=3, progress=False)
    straight = load_file(str(tmp_path / "straight" / "last.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "last.safetensors"))
    for key in straight:
        torch.testing.assert_close(straight[key], resumed[key], rtol=0, atol=0)
    curves = [json.loads((tmp_path / run / "curves.json").read_text()) for run in ("straight", "resumed")]
    assert curves[0] == curves[1]


def test_early_stopping(stores, tmp_path):
    never_improves = replace(SETTINGS, lr=0.0, max_epochs=20, patience=2)
    result = train_adapter("L1", *stores, never_improves, tmp_path / "es", seed=0, progress=False)
    assert result.stopped_early and result.epochs == 3 and result.best_epoch == 1


def test_loading_into_the_wrong_adapter_or_size_fails_clearly(stores, tmp_path):
    train_adapter("L1", *stores, replace(SETTINGS, max_epochs=1), tmp_path / "l1", seed=0, progress=False)
    with pytest.raises(CheckpointError, match="holds adapter L1, not L3"):
        load_adapter(tmp_path / "l1", name="L3")
    with pytest.raises(CheckpointError, match="hidden size 32, not 4096"):
        load_adapter(tmp_path / "l1", hidden_size=4096)
    with pytest.raises(CheckpointError, match="not an adapter checkpoint"):
        load_adapter(tmp_path)
    with pytest.raises(CheckpointError, match="other settings"):
        train_adapter("L2", *stores, SETTINGS, tmp_path / "l1", seed=0, progress=False)


def test_a_head_trained_with_an_older_recipe_is_refused(stores, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from xsd import train_adapters

    folder, settings = tmp_path / "l5f", replace(SETTINGS, max_epochs=1)
    train_adapter("L5F", *stores, settings, folder, seed=0, progress=False)
    (folder / "result.json").write_text("{}")
    monkeypatch.setattr(train_adapters, "Locations", lambda profile: SimpleNamespace(adapter=lambda name: folder))
    profile = SimpleNamespace(name="test")
    assert train_adapters.trained_adapter(profile, "L5F")[1]["recipe"] == adapter_recipe("L5F") > 1
    config = json.loads((folder / "config.json").read_text())
    del config["recipe"]  # as a checkpoint from before the heads' masks changed
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="trained with recipe 1"):
        train_adapters.trained_adapter(profile, "L5F")
    with pytest.raises(CheckpointError, match="other settings"):  # nor is its training resumed
        train_adapter("L5F", *stores, settings, folder, seed=0, progress=False)


def test_a_newer_head_recipe_trains_into_a_folder_of_its_own(monkeypatch):
    from xsd import locations
    from xsd.config import load_profile

    where = locations.Locations(load_profile("smoke"))
    before = {name: where.adapter(name) for name in ("L1", "L5F")}
    monkeypatch.setitem(locations.ADAPTER_RECIPES, "L5F", adapter_recipe("L5F") + 1)
    monkeypatch.setitem(locations.ADAPTER_RECIPES, "L1", 1)
    assert where.adapter("L5F") != before["L5F"]  # retrained, never refused
    assert where.adapter("L1") == before["L1"]


@pytest.mark.slow
def test_adapters_train_one_per_process_as_one_process_trains_them(smoke_data, tmp_path, monkeypatch,
                                                                   process_calls):
    """`ensure_adapters`' path: with two adapter threads, two one-thread processes take the
    adapters in turn, and each is the adapter one process trains at one thread."""
    from xsd import pipeline
    from xsd.config import load_profile
    from xsd.locations import Locations
    from xsd.train_adapters import train_profile_adapter, train_profile_adapters

    pipeline.ensure_stores(smoke_data, progress=False)
    path = tmp_path / "smoke-two-threads.yaml"
    path.write_text("extends: smoke\nname: smoke\nadapters:\n  threads: 2\n")
    two = load_profile(path)
    results = train_profile_adapters(two, ["L1", "B1"], progress=False)
    assert process_calls == [("_train_named_adapter", [(str(path), "L1", False, 1), (str(path), "B1", False, 1)], 2)]
    assert [r.name for r in results] == ["L1", "B1"] and all(r.epochs >= 1 for r in results)
    pooled = {name: load_adapter(Locations(two).adapter(name), name)[0].state_dict() for name in ("L1", "B1")}
    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "models"))  # the same adapters again, in folders of their own
    for name in ("L1", "B1"):
        assert Locations(two).adapter(name).is_relative_to(tmp_path / "models")
        train_profile_adapter(two, name, progress=False, threads=1)
        here = load_adapter(Locations(two).adapter(name), name)[0].state_dict()
        assert here.keys() == pooled[name].keys()
        assert all(torch.equal(here[k], pooled[name][k]) for k in here), name
