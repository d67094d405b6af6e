"""Loading both VLMs from local folders (never the hub), optionally 4-bit NF4.

The same functions load the real 7B checkpoints (full profile) and the mini models this artifact
trains and saves in the same Hugging Face layout. Every problem — a missing folder, missing
weights, a config of the wrong architecture, weights that do not fit the config — raises
`ModelLoadError` naming the path and what is wrong.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from xsd import paths
from xsd.models.config import PretrainedConfig
from xsd.models.pair import ModelPair

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
DRAFT_EXPECTS = {"model_type": "llava", "vision_feature_layer": -1, "vision_feature_select_strategy": "full"}
TARGET_EXPECTS = {"model_type": "video_llava"}
PATH_OVERRIDES = {"eventgpt_path": "XSD_EVENTGPT_PATH", "videollava_path": "XSD_VIDEOLLAVA_PATH"}


class ModelLoadError(RuntimeError):
    """A model folder that cannot be loaded; the message names the path and the problem."""


def resolve_path(pretrained: PretrainedConfig, field: str) -> Path:
    """A checkpoint path of the profile: environment override, else absolute, else under XSD_MODELS."""
    value = os.environ.get(PATH_OVERRIDES[field]) or getattr(pretrained, field)
    path = Path(value).expanduser()
    return path if path.is_absolute() else paths.models_dir() / path


def quantization_config(compute_dtype: str = "float16"):
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=getattr(torch, compute_dtype),
    )


def check_checkpoint(path: Path, expects: dict, what: str) -> dict:
    """The folder's config.json, after checking the folder holds a loadable checkpoint of `what`."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{what}: {path} does not exist")
    if not path.is_dir():
        raise ModelLoadError(f"{what}: {path} is not a folder")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"{what}: {path} has no config.json")
    try:
        config = json.loads(config_file.read_text())
    except json.JSONDecodeError as error:
        raise ModelLoadError(f"{what}: {config_file} is not valid JSON: {error}") from None
    if config.get("model_type") == "EventChat_llama":
        raise ModelLoadError(f"{what}: {path} is an original EventGPT checkpoint; convert it first with "
                             f"`xsd models convert-eventgpt {path} DESTINATION`")
    wrong = {k: config.get(k) for k, v in expects.items() if config.get(k) != v}
    if wrong:
        raise ModelLoadError(f"{what}: {config_file} is incompatible: found {wrong}, expected "
                             f"{ {k: expects[k] for k in wrong} }")
    if not any(next(path.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
        raise ModelLoadError(f"{what}: {path} holds no weights (*.safetensors or pytorch_model*.bin)")
    return config


def load_model(cls, path: Path, expects: dict, what: str, load_in_4bit: bool = False,
               compute_dtype: str = "float16", device=None):
    check_checkpoint(path, expects, what)
    kwargs = {"local_files_only": True, "output_loading_info": True}
    if load_in_4bit:
        kwargs["quantization_config"] = quantization_config(compute_dtype)
    if device is not None and str(device) != "cpu":
        # loaded straight onto the GPU (a 4-bit model cannot be moved after loading)
        kwargs["device_map"] = {"": str(device)}
        if not load_in_4bit:
            from xsd.device import dtype_of

            kwargs["dtype"] = dtype_of(compute_dtype)
    try:
        model, info = cls.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError, RuntimeError, ImportError) as error:
        raise ModelLoadError(f"{what}: cannot load {path}: {error}") from error
    problems = {k: info.get(k) for k in ("missing_keys", "mismatched_keys") if info.get(k)}
    if problems:
        raise ModelLoadError(f"{what}: the weights in {path} do not fit its config: "
                             f"{ {k: sorted(map(str, v))[:5] for k, v in problems.items()} }")
    return model.eval()


def load_draft(path: Path, load_in_4bit: bool = False, compute_dtype: str = "float16", device=None):
    from transformers import LlavaForConditionalGeneration

    return load_model(LlavaForConditionalGeneration, path, DRAFT_EXPECTS, "EventGPT draft",
                      load_in_4bit, compute_dtype, device)


def load_target(path: Path, load_in_4bit: bool = False, compute_dtype: str = "float16", device=None):
    from transformers import VideoLlavaForConditionalGeneration

    return load_model(VideoLlavaForConditionalGeneration, path, TARGET_EXPECTS, "Video-LLaVA target",
                      load_in_4bit, compute_dtype, device)


def load_lm_head_weight(path: Path, what: str = "Video-LLaVA target"):
    """The LM head's weight of a checkpoint folder, read from its safetensors files alone (the
    draft worker needs the target's LM head, never a second copy of the whole target)."""
    from safetensors import safe_open

    check_checkpoint(path, TARGET_EXPECTS, what)
    for file in sorted(Path(path).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as weights:
            # `lm_head.weight`, or `language_model.lm_head.weight` in the layout Video-LLaVA-7B-hf ships
            key = next((k for k in weights.keys() if k == "lm_head.weight" or k.endswith(".lm_head.weight")), None)
            if key is not None:
                return weights.get_tensor(key)
    raise ModelLoadError(f"{what}: no lm_head.weight in the safetensors files of {path}")


def load_tokenizer(path: Path, what: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{what}: no usable tokenizer in {path}: {error}") from error


def load_pair(draft_path: Path, target_path: Path, load_in_4bit: bool = False,
              compute_dtype: str = "float16", device=None, with_draft: bool = True):
    """Both models and their tokenizers from two local checkpoint folders (the draft model left
    out, its tokenizer kept, with `with_draft=False`)."""
    quant = (load_in_4bit, compute_dtype, device)
    return ModelPair(
        draft=load_draft(draft_path, *quant) if with_draft else None,
        target=load_target(target_path, *quant),
        draft_tokenizer=load_tokenizer(draft_path, "EventGPT draft"),
        target_tokenizer=load_tokenizer(target_path, "Video-LLaVA target"),
    )


def load_pretrained_pair(pretrained: PretrainedConfig, device=None, with_draft: bool = True):
    """The full profile's two checkpoints, from local folders."""
    return load_pair(resolve_path(pretrained, "eventgpt_path"), resolve_path(pretrained, "videollava_path"),
                     pretrained.load_in_4bit, pretrained.compute_dtype, device, with_draft)


def load_saved_pair(directory: Path, load_in_4bit: bool = False, compute_dtype: str = "float32") -> ModelPair:
    """A pair saved by `xsd.models.pair.save_pair` (two folders, draft/ and target/)."""
    directory = Path(directory)
    return load_pair(directory / "draft", directory / "target", load_in_4bit, compute_dtype)
