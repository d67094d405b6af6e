"""The target: Video-LLaVA as a stock `transformers.VideoLlavaForConditionalGeneration`.

It reads 8 uniformly sampled RGB frames; every frame contributes all its CLIP tokens (CLS kept:
Video-LLaVA's video path ignores the select strategy), so the prompt's single `<video>` expands
to 8 × (patches + 1) placeholder ids. Pixels come from `xsd.models.pixels`, not from the HF video
processor (which needs torchvision).
"""
from __future__ import annotations

import torch

from xsd.models.config import ModelsConfig, tower_image_size
from xsd.models.eventgpt import clip_vision_config, llama_config, tokens_per_frame
from xsd.models.pixels import clip_pixels
from xsd.models.tokenizer import TARGET_SPECIAL_TOKENS

VIDEO_PLACEHOLDER = "<video>"


def target_prompt(question: str) -> str:
    return f"USER: {VIDEO_PLACEHOLDER}\n{question} ASSISTANT:"


def video_token_count(model_config, n_frames: int) -> int:
    return n_frames * tokens_per_frame(model_config)


def target_config(models: ModelsConfig, vocab_size: int, base_vocab: int):
    """Special-token ids follow Video-LLaVA: <image>, <video>, <pad> right after the base vocabulary."""
    from transformers import VideoLlavaConfig

    image_id, video_id, pad_id = (base_vocab + i for i in range(len(TARGET_SPECIAL_TOKENS)))
    config = VideoLlavaConfig(
        vision_config=clip_vision_config(models.target_tower, tower_image_size(models, models.target_tower)),
        text_config=llama_config(models.llm, vocab_size, pad_token_id=pad_id),
        image_token_index=image_id,
        video_token_index=video_id,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )
    config.image_seq_length = tokens_per_frame(config) - 1
    config.video_seq_length = video_token_count(config, models.video_frames)
    return config


def build_target(models: ModelsConfig, vocab_size: int, base_vocab: int, seed: int):
    """A randomly initialised target of the profile's sizes (deterministic by seed)."""
    from transformers import VideoLlavaForConditionalGeneration

    torch.manual_seed(seed)
    return VideoLlavaForConditionalGeneration(target_config(models, vocab_size, base_vocab)).eval()


def target_input_ids(tokenizer, question: str, n_visual_tokens: int, video_id: int) -> list[int]:
    ids = tokenizer(target_prompt(question))["input_ids"]
    if ids.count(video_id) != 1:
        raise ValueError(f"the target prompt must hold exactly one {VIDEO_PLACEHOLDER} token (id {video_id})")
    at = ids.index(video_id)
    return ids[:at] + [video_id] * n_visual_tokens + ids[at + 1:]


def project_video(model, tower_features: torch.Tensor) -> torch.Tensor:
    """Cached tower features [frames, s, C] of one sample → [frames, s, H] (the training path)."""
    return model.model.multi_modal_projector(tower_features.to(model.device, model.dtype))


def as_encoder_outputs(projected: torch.Tensor) -> dict:
    """Projected video features [n, s, H] in the form VideoLlava's `mm_encoder_outputs` takes."""
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    return {"video": BaseModelOutputWithPooling(pooler_output=projected)}


def target_inputs(model, tokenizer, video_frames, question: str) -> dict:
    """Model kwargs for one sample from its [8, H, W, 3] uint8 video frames."""
    pixels = clip_pixels(video_frames, model.config.vision_config.image_size)
    return target_inputs_from_pixels(model, tokenizer, pixels, question)


def target_inputs_from_pixels(model, tokenizer, pixel_values: torch.Tensor, question: str) -> dict:
    n_frames = pixel_values.shape[0]
    ids = target_input_ids(
        tokenizer, question, video_token_count(model.config, n_frames), model.config.video_token_id
    )
    input_ids = torch.tensor([ids], device=model.device)
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "pixel_values_videos": pixel_values.unsqueeze(0).to(model.device, model.dtype),
    }
