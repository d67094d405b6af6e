import json

import pytest
import torch
from torch import nn

from xsd import paths
from xsd.studies import token_level
from xsd.store import HiddenStateStore, Record, StoreWriter
from xsd.studies.token_level import TokenAdapterSettings, TokenPairs


def write_store(root, answers, shard_size=4) -> HiddenStateStore:
    """answers: (draft tokens, target tokens) per sample; states are zeros."""
    writer = StoreWriter(root, {"hidden_size": 4}, shard_size=shard_size)
    for i, (draft, target) in enumerate(answers):
        draft, target = torch.tensor(draft), torch.tensor(target)
        writer.add(Record(f"s{i}", torch.zeros(len(draft), 4).half(), torch.zeros(len(target), 4).half(),
                          draft, target))
    writer.flush()
    return HiddenStateStore(root)


def test_raw_acceptance_counts_positions_where_both_answers_exist(tmp_path):
    store = write_store(tmp_path / "s", [([5, 6, 7, 8], [5, 6, 1]),   # matches 5, 6; the draft's 8 has no partner
                                         ([1, 2], [3, 2, 9, 9])])      # one match at position 1, run 0
    pairs = token_level.token_pairs(store)
    assert pairs.mask.tolist() == [[True, True, True, False], [True, True, False, False]]
    result = token_level.raw_acceptance(pairs)
    assert result["acceptance"] == pytest.approx(3 / 5)
    assert result["run_from_start"] == pytest.approx((2 + 0) / 2)
    assert (result["positions"], result["samples"]) == (5, 2)


def test_token_pairs_check_draft_ids_against_the_shared_vocabulary(tmp_path):
    from xsd.models.tokenizer import VocabularyMismatch

    class Shared:
        size = 8

        def draft_to_target(self, ids):
            if ids.max() >= self.size:
                raise VocabularyMismatch("outside")
            return ids

    assert token_level.token_pairs(write_store(tmp_path / "a", [([1, 7], [1, 2])]), Shared()).draft.tolist() == [[1, 7]]
    with pytest.raises(VocabularyMismatch):
        token_level.token_pairs(write_store(tmp_path / "b", [([1, 9], [1, 2])]), Shared())


class FixedLogits(nn.Module):
    """Scores token (draft + 1) highest, then draft + 2, … (a known ranking)."""

    def forward(self, draft):
        vocab = torch.arange(10)
        return -((vocab - draft[..., None] - 1) % 10).float()


def test_evaluate_token_adapter_top1_top5_and_run():
    draft = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    target = torch.tensor([[1, 2, 5, 4], [9, 6, 7, 8]])  # ranks 1, 1, 3, 1 | 5, 1, 1 (and padding)
    mask = torch.tensor([[True] * 4, [True, True, True, False]])
    result = token_level.evaluate_token_adapter(FixedLogits(), TokenPairs(draft, target, mask), batch_size=1, k=5)
    assert result["top1"] == pytest.approx(5 / 7)
    assert result["top5"] == pytest.approx(7 / 7)
    assert result["top1_run_from_start"] == pytest.approx((2 + 0) / 2)


def mapping_pairs(n: int, length: int = 6, vocab: int = 12, seed: int = 0) -> TokenPairs:
    """Target token = (draft token + 3) mod vocab: a mapping a TokenAdapter can learn exactly."""
    generator = torch.Generator().manual_seed(seed)
    draft = torch.randint(0, vocab, (n, length), generator=generator)
    mask = torch.ones(n, length, dtype=torch.bool)
    mask[: n // 2, length - 2:] = False
    return TokenPairs(draft, (draft + 3) % vocab, mask)


SMALL = TokenAdapterSettings(width=32, layers=1, heads=2, lr=3e-3, batch_size=16, max_epochs=6, patience=3, threads=1)


def test_the_token_adapter_learns_a_token_mapping(tmp_path):
    run = token_level.train_token_adapter(mapping_pairs(256), mapping_pairs(64, seed=1), 12, 16, SMALL, tmp_path / "ta")
    assert run["curves"][-1]["val_loss"] < run["curves"][0]["val_loss"]
    scores = token_level.evaluate_token_adapter(token_level.load_best(tmp_path / "ta"), mapping_pairs(64, seed=2))
    assert scores["top1"] > 0.9 and scores["top5"] >= scores["top1"]


def test_a_killed_token_adapter_run_resumes_to_the_same_weights(tmp_path):
    from safetensors.torch import load_file

    train, val = mapping_pairs(96), mapping_pairs(32, seed=1)
    settings = TokenAdapterSettings(width=32, layers=1, heads=2, lr=3e-3, batch_size=16, max_epochs=3,
                                    patience=3, threads=1)
    token_level.train_token_adapter(train, val, 12, 16, settings, tmp_path / "whole")

    class Killed(Exception):
        pass

    def kill_after_first_epoch(message):
        raise Killed(message)

    with pytest.raises(Killed):
        token_level.train_token_adapter(train, val, 12, 16, settings, tmp_path / "resumed", log=kill_after_first_epoch)
    resumed = token_level.train_token_adapter(train, val, 12, 16, settings, tmp_path / "resumed")
    assert resumed["epochs"] == 3
    whole, again = load_file(str(tmp_path / "whole" / "last.safetensors")), load_file(str(tmp_path / "resumed" / "last.safetensors"))
    assert all(torch.equal(whole[k], again[k]) for k in whole)


def test_classic_sd_at_the_seeds_example_is_slower_than_autoregressive():
    (row,) = token_level.classic_sd({"seeds": 0.279}, c=0.93, gammas=(5,))
    assert row["E(α, 5)"] == pytest.approx(1.3869, abs=1e-3)
    assert row["speedup γ=5"] == pytest.approx(1.3869 / 5.65, abs=1e-3)
    assert row["best γ"] == 1 and row["speedup at best γ"] < 1
    needed = token_level.required_alphas(0.93, gammas=(5,))
    assert needed[5] == pytest.approx(0.976, abs=1e-3)
    assert token_level.required_alphas(1.2, gammas=(1,)) == {1: None}  # a draft slower than the target never wins


def test_settings_follow_the_seeds_for_7b_and_scale_down_otherwise():
    from xsd.config import load_profile

    smoke = load_profile("smoke")
    assert token_level.settings_for(smoke, 4096) == TokenAdapterSettings(threads=smoke.adapters.threads)
    small = token_level.settings_for(smoke, 64)
    assert (small.width, small.layers, small.max_epochs) == (32, 2, smoke.adapters.max_epochs)


@pytest.mark.slow
def test_the_study_runs_on_smoke_and_is_cached(smoke_data):
    result = token_level.token_level_study(smoke_data)
    assert 0 <= result["raw"]["test"]["acceptance"] <= 1
    assert result["token_adapter"]["epochs"] >= 1 and "top5" in result["token_adapter"]["test"]
    cached = list((paths.cache_dir() / "token_level" / "smoke").glob("*.json"))
    assert len(cached) == 1 and json.dumps(json.loads(cached[0].read_text())) == json.dumps(result)
