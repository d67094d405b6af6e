"""The `shapes` profile's pair: the full profile's architectures with random weights.

What a cost depends on — every layer's shape, the visual token counts, the prompt lengths and the
dtype — is the real models'; the weights are random (seeded), so the pair measures prefill,
decode, verify(k) and head costs on any GPU with no checkpoint, and nothing about acceptance.
The models are built directly on their device in their dtype (a 7B model built on the CPU in
float32 first would need 28 GB and minutes). The tokenizer is the mini tokenizer trained on the
world's texts: it encodes the prompts; the models' vocabularies keep the real sizes (32000 and
32064), and ids the tokenizer does not know decode to nothing.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

from xsd.config import Profile
from xsd.device import dtype_of


@contextmanager
def building_on(device: torch.device | str, dtype: torch.dtype):
    """New modules get their parameters on `device` in `dtype` (the meta device allocates nothing)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def random_models(profile: Profile, device: torch.device | str, base_vocab: int, with_draft: bool = True):
    """(draft, target) with random weights (draft None without `with_draft`); `base_vocab` is the
    tokenizer's size, after which the target's <image>, <video> and <pad> ids follow, as in Video-LLaVA."""
    from xsd.models.eventgpt import build_draft
    from xsd.models.tokenizer import TARGET_SPECIAL_TOKENS, TARGET_VOCAB_MULTIPLE
    from xsd.models.videollava import build_target

    models = profile.models
    target_vocab = -(-(models.vocab_size + len(TARGET_SPECIAL_TOKENS)) // TARGET_VOCAB_MULTIPLE) * TARGET_VOCAB_MULTIPLE
    with building_on(device, dtype_of(models.random_weights.dtype)):
        draft = build_draft(models, models.vocab_size, profile.seed) if with_draft else None
        target = build_target(models, target_vocab, base_vocab, profile.seed + 1)
    return draft, target


def shapes_tokenizer(profile: Profile):
    """The mini tokenizer trained on the profile's world texts (it only has to encode prompts; the
    pipeline builds the world before it loads the models)."""
    from xsd.locations import Locations
    from xsd.models.pair import tokenizer_texts
    from xsd.models.tokenizer import train_tokenizer
    from xsd.world.dataset import corpus

    return train_tokenizer(tokenizer_texts(corpus(Locations(profile).world)), 1024)


def random_pair(profile: Profile, device: torch.device | str, with_draft: bool = True):
    """The shapes pair on `device`, its prompts padded as the profile says."""
    from xsd.models.pair import ModelPair
    from xsd.models.tokenizer import target_tokenizer

    base = shapes_tokenizer(profile)
    draft, target = random_models(profile, device, len(base), with_draft)
    return ModelPair(draft=draft, target=target, draft_tokenizer=base, target_tokenizer=target_tokenizer(base),
                     prompt_tokens=dict(profile.models.random_weights.prompt_tokens))


def random_draft_side(profile: Profile, device: torch.device | str):
    """The draft worker's side of the shapes pair: the random draft and a random target LM head."""
    from xsd.models.eventgpt import build_draft
    from xsd.models.pair import ModelPair

    base = shapes_tokenizer(profile)
    with building_on(device, dtype_of(profile.models.random_weights.dtype)):
        draft = build_draft(profile.models, profile.models.vocab_size, profile.seed)
    pair = ModelPair(draft=draft, target=None, draft_tokenizer=base, target_tokenizer=None,
                     prompt_tokens=dict(profile.models.random_weights.prompt_tokens))
    return pair, random_lm_head(profile, device)


def random_lm_head(profile: Profile, device: torch.device | str) -> torch.Tensor:
    """A random matrix of the target LM head's shape, for the draft worker's phase-1 candidates
    (it never loads a second target; with random weights only the cost of the product matters)."""
    from xsd.models.tokenizer import TARGET_SPECIAL_TOKENS, TARGET_VOCAB_MULTIPLE

    models = profile.models
    rows = -(-(models.vocab_size + len(TARGET_SPECIAL_TOKENS)) // TARGET_VOCAB_MULTIPLE) * TARGET_VOCAB_MULTIPLE
    generator = torch.Generator().manual_seed(profile.seed + 2)
    weight = torch.randn(rows, models.llm.hidden_size, generator=generator) * 0.02
    return weight.to(device, dtype_of(models.random_weights.dtype))


def parameter_counts(profile: Profile) -> dict:
    """Parameters and visual token counts of both models, built on the meta device (no memory)."""
    from xsd.models.eventgpt import event_token_count
    from xsd.models.videollava import video_token_count

    draft, target = random_models(profile, "meta", profile.models.vocab_size)
    return {
        "draft_parameters": sum(p.numel() for p in draft.parameters()),
        "target_parameters": sum(p.numel() for p in target.parameters()),
        "draft_visual_tokens": event_token_count(draft.config, profile.models.event_frames),
        "target_visual_tokens": video_token_count(target.config, profile.models.video_frames),
        "draft_vocab": draft.config.text_config.vocab_size,
        "target_vocab": target.config.text_config.vocab_size,
    }
