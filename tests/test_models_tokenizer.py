"""The shared BPE tokenizer: round trips, the target's extra special tokens, comparing ids."""
import pytest
import torch

pytest.importorskip("tokenizers")

from xsd.models.tokenizer import (  # noqa: E402
    SharedVocabulary, TARGET_SPECIAL_TOKENS, VocabularyMismatch, target_tokenizer, target_vocab_size,
    train_tokenizer,
)

CORPUS = [
    "How many cars are on the road? There are two cars, one red and one white.",
    "Which direction is the bus moving? The bus moves to the left.",
    "Is it day or night? It is night; the scene is dark and noisy.",
    "Describe the scene. A cyclist rides towards the camera while a truck drives away.",
] * 20


@pytest.fixture(scope="module")
def tokenizers():
    base = train_tokenizer(iter(CORPUS), vocab_size=500)
    return base, target_tokenizer(base)


@pytest.mark.parametrize("text", [CORPUS[0], "zebra crossing at 3 km/h — ünseen wörds!", "  two  spaces\nnewline"])
def test_round_trip(tokenizers, text):
    base, target = tokenizers
    for tok in (base, target):
        ids = tok(text)["input_ids"]
        assert ids[0] == tok.bos_token_id
        assert tok.unk_token_id not in ids  # byte level: never unknown (the draft's placeholder relies on it)
        assert tok.decode(ids, skip_special_tokens=True) == text


def test_bpe_merges_frequent_words(tokenizers):
    base, _ = tokenizers
    assert len(base("How many cars are on the road?", add_special_tokens=False)["input_ids"]) < 12


def test_target_adds_special_tokens_after_the_base_vocabulary(tokenizers):
    base, target = tokenizers
    assert len(target) == len(base) + 3
    assert target.convert_tokens_to_ids(list(TARGET_SPECIAL_TOKENS)) == [len(base), len(base) + 1, len(base) + 2]
    assert target.pad_token == "<pad>" and base.pad_token is None
    assert target_vocab_size(target) % 64 == 0 and len(target) <= target_vocab_size(target) < len(target) + 64
    assert target("USER: <video>\nhi")["input_ids"].count(len(base) + 1) == 1
    assert base("the same text")["input_ids"] == target("the same text")["input_ids"]


def test_shared_vocabulary_maps_and_checks_ids(tokenizers):
    base, target = tokenizers
    shared = SharedVocabulary(base, target)
    assert shared.size == len(base)
    ids = torch.tensor([1, 5, len(base) - 1])
    assert torch.equal(shared.draft_to_target(ids), ids)
    with pytest.raises(VocabularyMismatch):
        shared.draft_to_target(torch.tensor([len(base)]))
    assert shared.is_shared(torch.tensor([0, len(base) - 1, len(base), len(base) + 60])).tolist() == [
        True, True, False, False]
    assert shared.target_logits_as_draft(torch.zeros(2, target_vocab_size(target))).shape == (2, len(base))


def test_tokenizers_trained_on_other_text_do_not_share_a_vocabulary(tokenizers):
    base, _ = tokenizers
    other = target_tokenizer(train_tokenizer(["completely different words " * 3, "xylophone quartz"] * 30, 300))
    with pytest.raises(VocabularyMismatch):
        SharedVocabulary(base, other)


def test_training_is_deterministic():
    a = train_tokenizer(CORPUS, 500).get_vocab()
    b = train_tokenizer(CORPUS, 500).get_vocab()
    assert a == b
