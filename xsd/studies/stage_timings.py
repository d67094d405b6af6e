"""Stage timing of both VLMs: vision encoding, projector, LLM prefill, per-token decode.

Each stage is timed on its own, on precomputed inputs, as the medians of `repeats` runs after
`warmup` untimed ones, at a stated number of torch threads, on the models' device (every clock
read waits for the device: `xsd.device.now`):

  vision    the CLIP tower up to the layer the VLM reads (draft: k event frames; target: 8 frames)
  projector the 2-layer MLP (draft: + EventGPT's spatio-temporal pooling)
  prefill   one LLM forward over the whole prompt with the visual tokens spliced in (KV cache on)
  decode    one LLM forward of one token against the prompt's KV cache, per token (mean over
            `decode_tokens` greedy steps, then the median over repeats)

Derived: c = decode_draft / decode_target; prefill ratio = prefill_target / prefill_draft, also
with vision and projector included (what the target's prompt costs against the draft's).
"""
from __future__ import annotations

import statistics
from collections.abc import Callable
from contextlib import contextmanager

import torch

from xsd.cache import cached_json
from xsd.config import Profile, fingerprint
from xsd.device import model_device, now
from xsd.locations import Locations


def median_seconds(run: Callable[[], object], repeats: int, warmup: int, device="cpu") -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        started = now(device)
        run()
        times.append(now(device) - started)
    return statistics.median(times)


@contextmanager
def torch_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- the stages of one model ------------------------------------------------------------------------

def tower_of(model, side: str):
    return model.model.vision_tower if side == "draft" else model.model.video_tower


def encode(model, side: str, pixels: torch.Tensor) -> torch.Tensor:
    """[k, 3, S, S] → tower features [k, tokens, C] at the layer the VLM reads."""
    tower = tower_of(model, side)
    out = tower(pixels.to(tower.device, tower.dtype), output_hidden_states=True)
    return out.hidden_states[model.config.vision_feature_layer]


def project(model, side: str, features: torch.Tensor):
    from xsd.models import eventgpt, videollava

    if side == "draft":
        return eventgpt.as_encoder_outputs([eventgpt.project_and_pool(model, features)])
    return videollava.as_encoder_outputs(videollava.project_video(model, features))


def prompt_ids(model, tokenizer, side: str, question: str, n_frames: int, length: int = 0) -> torch.Tensor:
    """The prompt's token ids on the model's device, padded to `length` tokens when given."""
    from xsd.models import eventgpt, videollava
    from xsd.models.pair import padded_ids

    if side == "draft":
        n_visual = eventgpt.event_token_count(model.config, n_frames)
        ids = eventgpt.draft_input_ids(tokenizer, question, n_visual, model.config.image_token_id)
    else:
        n_visual = videollava.video_token_count(model.config, n_frames)
        ids = videollava.target_input_ids(tokenizer, question, n_visual, model.config.video_token_id)
    if length:
        ids = padded_ids(ids, length, tokenizer(question, add_special_tokens=False)["input_ids"])
    return torch.tensor([ids], device=model_device(model))


def visual_token_count(model, side: str, input_ids: torch.Tensor) -> int:
    placeholder = model.config.image_token_id if side == "draft" else model.config.video_token_id
    return int((input_ids == placeholder).sum())


def prefill(model, input_ids: torch.Tensor, encoded) -> object:
    return model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                 mm_encoder_outputs=encoded, use_cache=True)


def decode_steps(model, prefilled, prompt_length: int, steps: int) -> None:
    """`steps` greedy one-token forwards against the prompt's KV cache."""
    cache = prefilled.past_key_values
    token = prefilled.logits[:, -1:].argmax(-1)
    for i in range(steps):
        position = prompt_length + i
        out = model(input_ids=token, past_key_values=cache, use_cache=True,
                    attention_mask=torch.ones(1, position + 1, dtype=torch.long, device=token.device),
                    cache_position=torch.tensor([position], device=token.device))
        cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)


@torch.no_grad()
def model_stage_timings(model, tokenizer, side: str, pixels: torch.Tensor, question: str,
                        repeats: int, warmup: int, decode_tokens: int, prompt_tokens: int = 0) -> dict:
    """Milliseconds per stage of one model on one sample's pixels [frames, 3, S, S]."""
    model.eval()
    device = model_device(model)
    features = encode(model, side, pixels)
    encoded = project(model, side, features)
    input_ids = prompt_ids(model, tokenizer, side, question, pixels.shape[0], prompt_tokens)
    ms = {
        "vision": median_seconds(lambda: encode(model, side, pixels), repeats, warmup, device),
        "projector": median_seconds(lambda: project(model, side, features), repeats, warmup, device),
        "prefill": median_seconds(lambda: prefill(model, input_ids, encoded), repeats, warmup, device),
    }

    def timed_decode() -> float:
        prefilled = prefill(model, input_ids, encoded)
        started = now(device)
        decode_steps(model, prefilled, input_ids.shape[1], decode_tokens)
        return (now(device) - started) / decode_tokens

    timed_decode()
    ms["decode_per_token"] = statistics.median(timed_decode() for _ in range(max(1, repeats // 2)))
    ms = {k: 1000 * v for k, v in ms.items()}
    ms["prefill_with_vision"] = ms["vision"] + ms["projector"] + ms["prefill"]
    ms["prompt_tokens"] = int(input_ids.shape[1])
    ms["visual_tokens"] = visual_token_count(model, side, input_ids)
    return ms


# -- both models ------------------------------------------------------------------------------------

def pair_stage_timings(pair, event_frames, video_frames, question: str, threads: int = 1, repeats: int = 10,
                  warmup: int = 2, decode_tokens: int = 20) -> dict:
    """Both models' stage timings (ms) on one sample, c, the prefill ratios, and the frame-count
    comparison (target: 1 vs all video frames; draft: 1 vs all given event frames).

    event_frames: uint8 [k, H, W, 3] (k = 5 gives the draft comparison; the draft's own count is
    the first `pair.draft` reads); video_frames: uint8 [8, H, W, 3].
    """
    from xsd.models.eventgpt import tokens_per_frame
    from xsd.models.pixels import clip_pixels

    events = clip_pixels(event_frames, pair.draft.config.vision_config.image_size)
    video = clip_pixels(video_frames, pair.target.config.vision_config.image_size)
    draft_frames = pair.draft.config.image_seq_length - tokens_per_frame(pair.draft.config)
    settings = dict(repeats=repeats, warmup=warmup, decode_tokens=decode_tokens)
    lengths = pair.prompt_tokens
    with torch_threads(threads):
        draft = model_stage_timings(pair.draft, pair.draft_tokenizer, "draft", events[:draft_frames],
                                    question, prompt_tokens=lengths.get("draft", 0), **settings)
        target = model_stage_timings(pair.target, pair.target_tokenizer, "target", video, question,
                                     prompt_tokens=lengths.get("target", 0), **settings)
        frames = {
            "target": {f"{n}_frames": frame_count_cost(pair, "target", video[:n], question, repeats, warmup)
                       for n in sorted({1, len(video)})},
            "draft": {f"{n}_frames": frame_count_cost(pair, "draft", events[:n], question, repeats, warmup)
                      for n in sorted({1, len(events)})},
        }
    return {
        "threads": threads, "repeats": repeats, "warmup": warmup, "decode_tokens": decode_tokens,
        "unit": "ms", "draft": draft, "target": target,
        "c": draft["decode_per_token"] / target["decode_per_token"],
        "prefill_ratio": target["prefill"] / draft["prefill"],
        "prefill_ratio_with_vision": target["prefill_with_vision"] / draft["prefill_with_vision"],
        "frames": frames,
    }


@torch.no_grad()
def frame_count_cost(pair, side: str, pixels: torch.Tensor, question: str, repeats: int, warmup: int) -> dict:
    """Vision + projector + prefill (ms) of one model reading `len(pixels)` frames."""
    model, tokenizer = pair.model(side), pair.tokenizer(side)
    input_ids = prompt_ids(model, tokenizer, side, question, pixels.shape[0])

    def run():
        return prefill(model, input_ids, project(model, side, encode(model, side, pixels)))

    return {"visual_tokens": visual_token_count(model, side, input_ids),
            "prefill_with_vision": 1000 * median_seconds(run, repeats, warmup, model_device(model))}


def profile_stage_timings(profile: Profile, threads: int = 1, repeats: int = 10,
                          warmup: int = 2, decode_tokens: int = 20, device=None,
                          prompt_tokens: dict | None = None) -> dict:
    """`pair_stage_timings` of the profile's pair on the first test sample of its world, on `device`
    (None: the profile's); `prompt_tokens` ({side: n}) pads the prompts as the profile's setting does."""
    from xsd.device import describe, peak_memory_gb, resolve
    from xsd.models.registry import built_world, load_models
    from xsd.world.dataset import WorldDataset
    from xsd.world.layout import N_SLICES

    device = resolve(device, profile)
    if profile.models.random_weights is not None:
        from xsd.pipeline import ensure_world

        ensure_world(profile, progress=False)  # the random pair's tokenizer reads the world's texts
    pair = load_models(profile, device=device)
    if prompt_tokens:
        pair.prompt_tokens = dict(prompt_tokens)
    dataset = WorldDataset(built_world(profile), "test", event_frames=N_SLICES)
    sample = dataset[0]
    result = pair_stage_timings(pair, dataset.event_frames(sample), dataset.video_frames(sample), sample.question,
                           threads, repeats, warmup, decode_tokens)
    return {"profile": profile.name, "sample": sample.id, "prompt_padding": dict(pair.prompt_tokens),
            "measured_on": describe(device, pair.target.dtype, {"torch": threads}),
            "peak_memory_gb": peak_memory_gb(device), **result}


# -- the profile's, cached --------------------------------------------------------------------------

def stage_timings(profile: Profile, threads: int = 1, repeats: int = 10, refresh: bool = False,
                  progress: bool = False) -> dict:
    """Both models' stage timings (vision, projector, prefill, decode), c and the prefill ratio of
    the profile's pair, its models trained first if needed; cached by the models and the settings."""
    from xsd.pipeline import ensure_models

    ensure_models(profile, progress)
    key = {"models": Locations(profile).models_key, "threads": threads, "repeats": repeats}
    return cached_json(Locations(profile).results("results") / f"stage_timings-{fingerprint(key)}.json",
                       lambda: profile_stage_timings(profile, threads=threads, repeats=repeats), refresh)


def measured_c(profile: Profile) -> tuple[float, str]:
    """c = T_draft_decode / T_target_decode from the stage benchmark, with a description."""
    timings = stage_timings(profile)
    return timings["c"], f"{timings['profile']} models, stage benchmark ({timings.get('threads', 1)} thread)"
