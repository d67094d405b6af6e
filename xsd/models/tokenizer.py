"""The shared Vicuna-style tokenizer of the mini models, and comparing tokens across vocabularies.

As in the study, both models share one base vocabulary (Vicuna's 32000 tokens). The target
(Video-LLaVA) appends `<image>`, `<video>` and `<pad>` and pads its embedding matrix to a
multiple of 64 (32000 → 32064); the draft (EventGPT) keeps the base vocabulary. Ids below the
base size mean the same token in both models; ids at or above it exist only in the target.

The mini tokenizer is a byte-level BPE, so every string is representable and `<unk>` never
occurs in encoded text — the draft uses `<unk>`'s id as its event placeholder (see eventgpt.py).
"""
from __future__ import annotations

from collections.abc import Iterable
import torch

BASE_SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")  # ids 0, 1, 2, as in Llama/Vicuna
TARGET_SPECIAL_TOKENS = ("<image>", "<video>", "<pad>")  # appended by Video-LLaVA, in this order
TARGET_VOCAB_MULTIPLE = 64


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """Train the shared base tokenizer (the draft's) on an iterable of strings."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(BASE_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    bos = bpe.token_to_id("<s>")
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    return _wrap(bpe)


def _wrap(bpe):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
        clean_up_tokenization_spaces=False,
    )


def target_tokenizer(base):
    """The target's tokenizer: the base one plus Video-LLaVA's special tokens."""
    from tokenizers import Tokenizer

    target = _wrap(Tokenizer.from_str(base.backend_tokenizer.to_str()))
    target.add_special_tokens({"additional_special_tokens": list(TARGET_SPECIAL_TOKENS[:2])})
    target.add_special_tokens({"pad_token": TARGET_SPECIAL_TOKENS[2]})
    return target


def target_vocab_size(target) -> int:
    """Rows of the target's embedding matrix: its tokens padded to a multiple of 64."""
    return -(-len(target) // TARGET_VOCAB_MULTIPLE) * TARGET_VOCAB_MULTIPLE


class VocabularyMismatch(ValueError):
    """The two tokenizers do not share a base vocabulary, so their tokens cannot be compared."""


class SharedVocabulary:
    """Compares draft and target tokens: ids below `size` mean the same token in both models."""

    def __init__(self, draft_tokenizer, target_tokenizer):
        self.size = len(draft_tokenizer)
        draft_vocab, target_vocab = draft_tokenizer.get_vocab(), target_tokenizer.get_vocab()
        differing = [tok for tok, i in draft_vocab.items() if target_vocab.get(tok) != i]
        if differing:
            raise VocabularyMismatch(
                f"{len(differing)} draft tokens have another id (or none) in the target, e.g. "
                f"{differing[:5]}; the draft's vocabulary must be a prefix of the target's"
            )

    def draft_to_target(self, ids: torch.Tensor) -> torch.Tensor:
        """Draft ids as target ids (the identity, checked)."""
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.size):
            raise VocabularyMismatch(f"draft ids outside the shared vocabulary [0, {self.size})")
        return ids

    def is_shared(self, target_ids: torch.Tensor) -> torch.Tensor:
        """Which target ids the draft can also produce."""
        return (target_ids >= 0) & (target_ids < self.size)

    def target_logits_as_draft(self, logits: torch.Tensor) -> torch.Tensor:
        """Target logits restricted to the shared vocabulary (drops the target-only rows)."""
        return logits[..., : self.size]
