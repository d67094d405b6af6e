"""Stage timing of both VLMs: vision encoding, projector, LLM prefill, per-token decode.

Each stage is timed on its own, on precomputed inputs, as the median of `repeats` runs after
`warmup` untimed ones, at a stated number of torch threads, on the models' device (every clock
read waits for the device: `xsd.device.now`). Both models' stages are timed in rounds that run
each once (`interleaved_medians`), so that the ratios between them are measured under the same
load: on a shared 2-core machine, timed one model after the other, the prefill ratio of one pair
came out anywhere from 2.4x to 5.5x.

  vision    the CLIP tower up to the layer the VLM reads (draft: k event frames; target: 8 frames)
  projector the 2-layer MLP (draft: + EventGPT's spatio-temporal pooling)
  prefill   one LLM forward over the whole prompt with the visual tokens spliced in (KV cache on)
  decode    one LLM forward of one token against the prompt's KV cache, per token (mean over
            `decode_tokens` greedy steps, then the median over the rounds)

Derived: c = decode_draft / decode_target; prefill ratio = prefill_target / prefill_draft, also
with vision and projector included (what the target's prompt costs against the draft's).
"""
from __future__ import annotations

import statistics
from collections.abc import Callable, Hashable
from contextlib import contextmanager

import torch

from xsd.cache import cached_json
from xsd.config import Profile, fingerprint
from xsd.device import model_device, now
from xsd.locations import Locations


def timed(run: Callable[[], object], device="cpu") -> Callable[[], float]:
    """`run` as a timer: a call runs it once and returns its seconds."""
    def timer() -> float:
        started = now(device)
        run()
        return now(device) - started
    return timer


def interleaved_medians(timers: dict[Hashable, Callable[[], float]], repeats: int,
                        warmup: int) -> dict[Hashable, float]:
    """The median seconds of every timer, timed in `repeats` rounds that each call every timer
    once (each round starting one further along). A machine whose speed drifts while it measures
    then slows every timer of a round alike, so the ratios between them hold; timed one after
    the other, minutes apart, two medians can differ by half on a shared machine."""
    for timer in timers.values():
        for _ in range(warmup):
            timer()
    names, seconds = list(timers), {name: [] for name in timers}
    for round_ in range(repeats):
        start = round_ % len(names)
        for name in names[start:] + names[:start]:
            seconds[name].append(timers[name]())
    return {name: statistics.median(values) for name, values in seconds.items()}


def median_seconds(run: Callable[[], object], repeats: int, warmup: int, device="cpu") -> float:
    return interleaved_medians({"run": timed(run, device)}, repeats, warmup)["run"]


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


class ModelStages:
    """One model's stages on one sample's pixels [frames, 3, S, S], ready to time: `timers` (vision,
    projector, prefill) and `decode`, a timer of one greedy token after a fresh prefill."""

    def __init__(self, model, tokenizer, side: str, pixels: torch.Tensor, question: str,
                 decode_tokens: int, prompt_tokens: int = 0):
        model.eval()
        device = model_device(model)
        features = encode(model, side, pixels)
        encoded = project(model, side, features)
        input_ids = prompt_ids(model, tokenizer, side, question, pixels.shape[0], prompt_tokens)
        self.timers = {
            "vision": timed(lambda: encode(model, side, pixels), device),
            "projector": timed(lambda: project(model, side, features), device),
            "prefill": timed(lambda: prefill(model, input_ids, encoded), device),
        }

        def decode() -> float:
            prefilled = prefill(model, input_ids, encoded)
            started = now(device)
            decode_steps(model, prefilled, input_ids.shape[1], decode_tokens)
            return (now(device) - started) / decode_tokens

        self.decode = decode
        self.prompt_tokens = int(input_ids.shape[1])
        self.visual_tokens = visual_token_count(model, side, input_ids)

    def milliseconds(self, seconds: dict[str, float]) -> dict:
        """The stages' medians in ms, their sum before the first token, and the prompt's size."""
        ms = {stage: 1000 * value for stage, value in seconds.items()}
        ms["prefill_with_vision"] = ms["vision"] + ms["projector"] + ms["prefill"]
        return {**ms, "prompt_tokens": self.prompt_tokens, "visual_tokens": self.visual_tokens}


# -- both models ------------------------------------------------------------------------------------

def pair_stage_timings(pair, event_frames, video_frames, question: str, threads: int = 1, repeats: int = 30,
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
    lengths = pair.prompt_tokens
    with torch_threads(threads), torch.no_grad():
        stages = {"draft": ModelStages(pair.draft, pair.draft_tokenizer, "draft", events[:draft_frames], question,
                                       decode_tokens, lengths.get("draft", 0)),
                  "target": ModelStages(pair.target, pair.target_tokenizer, "target", video, question,
                                        decode_tokens, lengths.get("target", 0))}
        frame_counts = {"target": video, "draft": events}
        timers = {(side, stage): timer for side in stages for stage, timer in stages[side].timers.items()}
        timers |= {("frames", side, n): frame_count_timer(pair, side, pixels[:n], question)
                   for side, pixels in frame_counts.items() for n in sorted({1, len(pixels)})}
        seconds = interleaved_medians(timers, repeats, warmup)
        decode = interleaved_medians({side: stages[side].decode for side in stages}, repeats, 1)
    draft, target = ({**stages[side].milliseconds({stage: seconds[(side, stage)] for stage in stages[side].timers}),
                      "decode_per_token": 1000 * decode[side]} for side in ("draft", "target"))
    frames = {side: {f"{n}_frames": {"visual_tokens": visual_tokens,
                                     "prefill_with_vision": 1000 * seconds[("frames", side, n)]}
                     for n, visual_tokens in frame_tokens(pair, side, pixels, question).items()}
              for side, pixels in frame_counts.items()}
    return {
        "threads": threads, "repeats": repeats, "warmup": warmup, "decode_tokens": decode_tokens,
        "unit": "ms", "draft": draft, "target": target,
        "c": draft["decode_per_token"] / target["decode_per_token"],
        "prefill_ratio": target["prefill"] / draft["prefill"],
        "prefill_ratio_with_vision": target["prefill_with_vision"] / draft["prefill_with_vision"],
        "frames": frames,
    }


def frame_count_timer(pair, side: str, pixels: torch.Tensor, question: str) -> Callable[[], float]:
    """A timer of vision + projector + prefill of one model reading `len(pixels)` frames."""
    model, tokenizer = pair.model(side), pair.tokenizer(side)
    input_ids = prompt_ids(model, tokenizer, side, question, pixels.shape[0])
    return timed(lambda: prefill(model, input_ids, project(model, side, encode(model, side, pixels))),
                 model_device(model))


def frame_tokens(pair, side: str, pixels: torch.Tensor, question: str) -> dict[int, int]:
    """Visual tokens of the model reading 1 frame and all of `pixels`, by frame count."""
    model, tokenizer = pair.model(side), pair.tokenizer(side)
    return {n: visual_token_count(model, side, prompt_ids(model, tokenizer, side, question, n))
            for n in sorted({1, len(pixels)})}


def profile_stage_timings(profile: Profile, threads: int = 1, repeats: int = 30,
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

def stage_timings(profile: Profile, threads: int = 1, repeats: int = 30, refresh: bool = False,
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
