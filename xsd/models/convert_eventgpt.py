"""Convert an original EventGPT checkpoint (`EventChat_llama`) into the Llava layout of eventgpt.py.

Original keys                                        → Llava keys
  model.embed_tokens / model.layers.* / model.norm   → model.language_model.*
  lm_head.weight                                     → lm_head.weight
  model.visual_tower.visual_tower[.vision_model].*   → model.vision_tower.*
  model.visual_projector.0.*                         → model.multi_modal_projector.linear_1.*
  model.visual_projector.2.* + model.feature_adaptor → model.multi_modal_projector.linear_2.*

EventGPT applies its feature adaptor (a Linear H→H) right after the projector, before pooling, so
it folds exactly into the projector's second linear: W' = Wa·W2, b' = Wa·b2 + ba.
The CLIP tower's config is read off the weight shapes (the original config only names a path).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch

TOWER_PREFIXES = ("model.visual_tower.visual_tower.vision_model.", "model.visual_tower.visual_tower.")
LLM_PREFIXES = ("model.embed_tokens.", "model.layers.", "model.norm.")
TOKENIZER_FILES = ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json")
IGNORED = re.compile(r"rotary_emb\.inv_freq$|position_ids$")


class ConversionError(ValueError):
    """The source is not an EventGPT checkpoint this converter understands."""


def fold_adaptor(w2, b2, wa, ba):
    """linear_2 followed by the adaptor, as one linear layer (computed in float64)."""
    w2, b2, wa, ba = (t.double() for t in (w2, b2, wa, ba))
    return wa @ w2, wa @ b2 + ba


def convert_state_dict(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """EventGPT keys → Llava keys, the adaptor folded into linear_2 (dtypes kept)."""
    converted, used = {}, set()
    for key, value in original.items():
        new_key = _renamed(key)
        if new_key is not None:
            converted[new_key] = value
            used.add(key)
    converted.update(_projector(original, used))
    leftover = sorted(k for k in original if k not in used and not IGNORED.search(k))
    if leftover:
        raise ConversionError(f"keys this converter does not know (Q-Former variant?): {leftover[:8]}")
    _require(converted, ("model.vision_tower.embeddings.patch_embedding.weight", "lm_head.weight",
                         "model.language_model.embed_tokens.weight"))
    return converted


def _renamed(key: str) -> str | None:
    if key.startswith(LLM_PREFIXES):
        return "model.language_model." + key[len("model."):]
    if key == "lm_head.weight":
        return key
    for prefix in TOWER_PREFIXES:
        if key.startswith(prefix):
            return "model.vision_tower." + key[len(prefix):]
    return None


def _projector(original: dict, used: set) -> dict:
    names = {
        "w1": "model.visual_projector.0.weight", "b1": "model.visual_projector.0.bias",
        "w2": "model.visual_projector.2.weight", "b2": "model.visual_projector.2.bias",
        "wa": "model.feature_adaptor.weight", "ba": "model.feature_adaptor.bias",
    }
    _require(original, tuple(names.values()))
    t = {short: original[key] for short, key in names.items()}
    used.update(names.values())
    w2, b2 = fold_adaptor(t["w2"], t["b2"], t["wa"], t["ba"])
    dtype = t["w2"].dtype
    return {
        "model.multi_modal_projector.linear_1.weight": t["w1"],
        "model.multi_modal_projector.linear_1.bias": t["b1"],
        "model.multi_modal_projector.linear_2.weight": w2.to(dtype),
        "model.multi_modal_projector.linear_2.bias": b2.to(dtype),
    }


def _require(state: dict, keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in state]
    if missing:
        raise ConversionError(f"missing weights {missing}")


# -- configuration --------------------------------------------------------------------------------

def vision_config_from_weights(state: dict, head_dim: int = 64):
    """The CLIP tower's config, read off its converted weight shapes."""
    from transformers import CLIPVisionConfig

    patch = state["model.vision_tower.embeddings.patch_embedding.weight"]
    positions = state["model.vision_tower.embeddings.position_embedding.weight"].shape[0]
    layers = {int(m.group(1)) for k in state if (m := re.match(r"model\.vision_tower\.encoder\.layers\.(\d+)\.", k))}
    hidden, patch_size = patch.shape[0], patch.shape[-1]
    return CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=state["model.vision_tower.encoder.layers.0.mlp.fc1.weight"].shape[0],
        num_hidden_layers=len(layers),
        num_attention_heads=max(1, hidden // head_dim),
        image_size=round((positions - 1) ** 0.5) * patch_size,
        patch_size=patch_size,
    )


def llava_config(original_config: dict, state: dict, vision_head_dim: int = 64):
    from transformers import LlamaConfig, LlavaConfig

    from xsd.models.eventgpt import tokens_per_frame

    llama_keys = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                  "num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "rope_theta",
                  "bos_token_id", "eos_token_id", "pad_token_id", "hidden_act")
    text = LlamaConfig(**{k: original_config[k] for k in llama_keys if k in original_config},
                       tie_word_embeddings=False)
    config = LlavaConfig(
        vision_config=vision_config_from_weights(state, vision_head_dim), text_config=text,
        image_token_index=0, vision_feature_layer=-1, vision_feature_select_strategy="full",
        projector_hidden_act="gelu", tie_word_embeddings=False,
    )
    config.image_seq_length = 1 + tokens_per_frame(config)
    return config


# -- whole checkpoints ----------------------------------------------------------------------------

def read_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    """All weights of a checkpoint folder (safetensors shards or pytorch .bin shards)."""
    from safetensors.torch import load_file

    files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("pytorch_model*.bin"))
    if not files:
        raise ConversionError(f"{directory}: no *.safetensors or pytorch_model*.bin weight files")
    state = {}
    for file in files:
        part = load_file(file) if file.suffix == ".safetensors" else torch.load(file, map_location="cpu",
                                                                                 weights_only=True)
        state.update(part)
    return state


def convert_checkpoint(source: Path, destination: Path) -> Path:
    """Write a Llava-layout copy of an original EventGPT checkpoint folder (plus its tokenizer)."""
    from transformers import LlavaForConditionalGeneration

    source, destination = Path(source), Path(destination)
    config_file = source / "config.json"
    if not config_file.is_file():
        raise ConversionError(f"{source}: no config.json (is this an EventGPT checkpoint folder?)")
    original_config = json.loads(config_file.read_text())
    state = convert_state_dict(read_state_dict(source))
    config = llava_config(original_config, state)
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    model.load_state_dict(state, strict=True, assign=True)
    model.save_pretrained(destination)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, destination / name)
    return destination
