"""The draft: EventGPT expressed as a stock `transformers.LlavaForConditionalGeneration`.

EventGPT encodes each event frame with CLIP (last layer, CLS kept), projects it with a 2-layer
GELU MLP (its extra 4096×4096 feature adaptor is folded into `linear_2` by the converter), and
then pools over the k frames the way Video-ChatGPT does:

    features [k, s, H]  →  [mean over patches (k temporal tokens) ; mean over frames (s spatial tokens)]

giving k + s visual tokens (k = 1, s = 17 in mini: 18 tokens). The pooling happens between
`get_image_features` and the input embeddings: we hand the pooled features to the model as
`mm_encoder_outputs`, which both `forward` and `generate` accept, so the model stays a plain
Llava that `save_pretrained` / `from_pretrained` round-trip.

The event placeholder: EventGPT splits its prompt at `<event>` and splices the features in
there (its placeholder id is -200, outside the vocabulary). A Llava needs an in-vocabulary id, and
the draft's vocabulary must stay Vicuna's 32000, so the placeholder is `<unk>` (id 0), which
neither the byte-level mini tokenizer nor Vicuna's byte-fallback tokenizer ever emits for text.
"""
from __future__ import annotations

import torch

from xsd.models.config import LLMConfig, ModelsConfig, TowerConfig, tower_image_size
from xsd.models.pixels import clip_pixels

EVENT_PLACEHOLDER = "<event>"
VICUNA_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)


def draft_prompt(question: str) -> str:
    """Vicuna v1 conversation with the event placeholder, as EventGPT is prompted."""
    return f"{VICUNA_SYSTEM} USER: {EVENT_PLACEHOLDER}\n{question} ASSISTANT:"


def spatio_temporal_pool(features: torch.Tensor) -> torch.Tensor:
    """[k, s, H] per-frame features → [k + s, H]: k temporal tokens, then s spatial tokens."""
    if features.ndim != 3:
        raise ValueError(f"expected [frames, patches, hidden] features, got shape {tuple(features.shape)}")
    temporal = features.mean(dim=1)
    spatial = features.mean(dim=0)
    return torch.cat([temporal, spatial], dim=0)


def tokens_per_frame(model_config) -> int:
    vision = model_config.vision_config
    return (vision.image_size // vision.patch_size) ** 2 + 1  # CLS kept ("full")


def event_token_count(model_config, n_frames: int) -> int:
    return n_frames + tokens_per_frame(model_config)


# -- building -------------------------------------------------------------------------------------

def clip_vision_config(tower: TowerConfig, image_size: int):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=tower.hidden_size, intermediate_size=tower.intermediate_size,
        num_hidden_layers=tower.num_layers, num_attention_heads=tower.num_heads,
        image_size=image_size, patch_size=tower.patch_size,
    )


def llama_config(llm: LLMConfig, vocab_size: int, pad_token_id: int | None = None):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=llm.hidden_size, intermediate_size=llm.intermediate_size,
        num_hidden_layers=llm.num_layers, num_attention_heads=llm.num_heads,
        num_key_value_heads=llm.num_heads, max_position_embeddings=llm.max_positions,
        bos_token_id=1, eos_token_id=2, pad_token_id=pad_token_id, tie_word_embeddings=False,
    )


def draft_config(models: ModelsConfig, vocab_size: int, placeholder_id: int = 0):
    from transformers import LlavaConfig

    config = LlavaConfig(
        vision_config=clip_vision_config(models.draft_tower, tower_image_size(models, models.draft_tower)),
        text_config=llama_config(models.llm, vocab_size),
        image_token_index=placeholder_id,
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        projector_hidden_act="gelu",
        tie_word_embeddings=False,
    )
    config.image_seq_length = event_token_count(config, models.event_frames)
    return config


def build_draft(models: ModelsConfig, vocab_size: int, seed: int, placeholder_id: int = 0):
    """A randomly initialised draft of the profile's sizes (deterministic by seed)."""
    from transformers import LlavaForConditionalGeneration

    torch.manual_seed(seed)
    return LlavaForConditionalGeneration(draft_config(models, vocab_size, placeholder_id)).eval()


# -- inputs ---------------------------------------------------------------------------------------

def draft_input_ids(tokenizer, question: str, n_visual_tokens: int, placeholder_id: int) -> list[int]:
    """Token ids of the draft prompt, with the placeholder repeated once per visual token."""
    before, after = draft_prompt(question).split(EVENT_PLACEHOLDER)
    head = tokenizer(before)["input_ids"]
    tail = tokenizer(after, add_special_tokens=False)["input_ids"]
    return head + [placeholder_id] * n_visual_tokens + tail


def pooled_event_features(model, pixel_values: torch.Tensor) -> torch.Tensor:
    """[k, 3, S, S] event frames of one sample → [k + s, H] pooled visual tokens."""
    out = model.get_image_features(
        pixel_values=pixel_values.to(model.device, model.dtype),
        vision_feature_layer=model.config.vision_feature_layer,
        vision_feature_select_strategy=model.config.vision_feature_select_strategy,
    )
    return spatio_temporal_pool(torch.stack(list(out.pooler_output)))


def project_and_pool(model, tower_features: torch.Tensor) -> torch.Tensor:
    """Cached tower features [k, s, C] of one sample → [k + s, H] (the training path)."""
    projector = model.model.multi_modal_projector
    return spatio_temporal_pool(projector(tower_features.to(model.device, model.dtype)))


def as_encoder_outputs(pooled: list[torch.Tensor]) -> dict:
    """Per-sample pooled features in the form Llava's `mm_encoder_outputs` takes."""
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    return {"image": BaseModelOutputWithPooling(pooler_output=pooled)}


def draft_inputs(model, tokenizer, event_frames, question: str) -> dict:
    """Model kwargs for one sample from its [k, H, W, 3] uint8 event frames:
    `model(**inputs)` or `model.generate(**inputs, output_hidden_states=True, ...)`."""
    pixels = clip_pixels(event_frames, model.config.vision_config.image_size)
    return draft_inputs_from_pixels(model, tokenizer, pixels, question)


def draft_inputs_from_pixels(model, tokenizer, pixel_values: torch.Tensor, question: str) -> dict:
    pooled = pooled_event_features(model, pixel_values)
    ids = draft_input_ids(tokenizer, question, pooled.shape[0], model.config.image_token_id)
    input_ids = torch.tensor([ids], device=model.device)
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "mm_encoder_outputs": as_encoder_outputs([pooled]),
    }
