"""The decoding methods compared in the live study, on loaded models and heads.

    ar             the target alone, through Hugging Face `generate` (the reference); a logits
                   processor that only reads the clock marks generate's first step, so its prefill
                   and decode phase are split where the loop splits every other method's
    ar-loop        the target alone in this package's verification loop with no drafts: the
                   same algorithm as ar without `generate`'s per-call and per-step overhead
    prompt-lookup  prompt-lookup decoding (n-grams of the prompt and answer as drafts), as
                   transformers implements it, run in this verification loop
    b1             EAGLE-style drafting with B1 (reads the target's own states)
    l5f            drafting with L5F, its event stream from the draft VLM running concurrently
    two-phase      phase 1 (per-position adapter candidates made during the target's prefill)
                   + phase 2 (L5F drafting)

Every method starts from the raw inputs (uint8 frames and the question), so input building,
vision encoding, the draft process's work and every head call sit inside the measured time.
Threads: the target runs with one intra-op thread; the draft VLM runs in its own process with
one thread.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from xsd.decode.drafters import (HeadDrafter, NoDrafts, PauseDraftDuringVerify, PromptLookupDrafter,
                                 StopDraftAfterPrefill, TwoPhaseDrafter)
from xsd.decode.loop import speculative_generate
from xsd.decode.target import Target

from xsd.names import METHODS, NEEDS_WORKER, POLICIES


@dataclass
class Decoder:
    """Everything the methods need, loaded once (`xsd.pipeline.ensure_decoder` loads a profile's):
    the pair, the heads by name, the draft worker when a method reads the draft VLM, and the target
    (default: `Target(pair.target)`). `gamma` and `policy` are the defaults of `run`."""
    pair: object
    heads: dict
    gamma: int = 3
    policy: str = "wait"
    prefill_adapter: str | None = None
    worker: object = None
    threads: dict = field(default_factory=lambda: {"target": 1, "draft_process": 1})
    target: Target | None = None

    def __post_init__(self):
        if self.target is None and self.pair is not None:
            self.target = Target(self.pair.target)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()

    @property
    def lm_head(self) -> torch.Tensor:
        return self.target.lm_head.weight

    def run(self, method: str, event_frames, video_frames, question: str, max_new_tokens: int,
            temperature: float = 0.0, seed: int = 0, gamma: int | None = None, policy: str | None = None) -> dict:
        """Decode one sample with `method` (γ and policy: the decoder's unless given); returns
        tokens, text, wall time and statistics.

        Every method reads its inputs alike: max_new_tokens ≥ 1, temperature ≥ 0 (0 is greedy),
        γ ≥ 1; a value out of range is a ValueError (see `xsd.arguments.check_decoding`)."""
        from xsd.arguments import check_decoding

        gamma = self.gamma if gamma is None else gamma
        policy = self.policy if policy is None else policy
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        check_decoding(max_new_tokens, temperature, gamma)
        tokenizer = self.pair.target_tokenizer
        start = time.perf_counter()
        if method in NEEDS_WORKER:
            self.worker.submit(event_frames, question)
        building = self.target.now()
        inputs = self.pair.inputs("target", video_frames, question)
        inputs_s = self.target.now() - building
        if method == "ar":
            tokens, stats = self._generate(method, inputs, max_new_tokens, temperature, seed)
        else:
            drafter, feed, head = self._drafter(method, inputs, temperature, seed, gamma, policy)
            result = speculative_generate(self.target, inputs, drafter, max_new_tokens, tokenizer.eos_token_id,
                                          temperature, seed)
            tokens, stats = result.tokens, result.stats.as_dict()
            if head is not None:
                stats.update(head=head.head.name, head_s=head.head_s, head_calls=head.head_calls)
        stats["inputs_s"] = inputs_s  # building the target's inputs: outside prefill_s and total_s
        wall = time.perf_counter() - start
        if method in NEEDS_WORKER:
            stats.update(egpt_wait_s=feed.waited_s, egpt_missing=feed.missing, egpt_read=feed.read, policy=policy,
                         prefill_adapter=self.prefill_adapter if method == "two-phase" else None)
            self.worker.finish()
        return {"method": method, "tokens": tokens, "text": tokenizer.decode(tokens, skip_special_tokens=True),
                "wall_s": wall, "stats": stats, "gamma": gamma if method not in ("ar", "ar-loop") else None}

    def _drafter(self, method: str, inputs: dict, temperature: float, seed: int, gamma: int, policy: str):
        """(drafter, the EgptFeed it reads or None, its HeadDrafter or None)."""
        if method == "ar-loop":
            return NoDrafts(), None, None
        if method == "prompt-lookup":
            return PromptLookupDrafter(inputs["input_ids"][0].tolist(), gamma), None, None
        if method == "b1":
            head = HeadDrafter(self.heads["B1"], self.lm_head, gamma, temperature, seed=seed)
            return head, None, head
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        feed = self.worker.feed("wait" if policy in ("wait", "pause-verify") else "degrade")
        head = HeadDrafter(self.heads["L5F"], self.lm_head, gamma, temperature, feed=feed, seed=seed)
        drafter = head if method == "l5f" else TwoPhaseDrafter(self.worker.prefill_candidates(), head)
        if policy == "prefill-only":
            drafter = StopDraftAfterPrefill(drafter, self.worker.release)
        elif policy == "pause-verify":
            drafter = PauseDraftDuringVerify(drafter, self.worker.pause, self.worker.resume)
        return drafter, feed, head

    @torch.no_grad()
    def _generate(self, method: str, inputs: dict, max_new_tokens: int, temperature: float,
                  seed: int) -> tuple[list[int], dict]:
        """`generate`'s tokens and its spans, read by the clock the loop reads: total_s from the call
        to its return, prefill_s from the call to its first step (the prefill's logits, marked by
        `FirstStep`), so total_s − prefill_s is the decode phase as the loop measures it."""
        from transformers import LogitsProcessorList

        tokenizer = self.pair.target_tokenizer
        options = {"max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id,
                   "eos_token_id": tokenizer.eos_token_id}
        if temperature > 0:
            torch.manual_seed(seed)
            options.update(do_sample=True, temperature=temperature, top_k=0, top_p=1.0)
        else:
            options.update(do_sample=False)
        first = FirstStep(self.target.now)
        start = self.target.now()
        out = self.target.model.generate(**inputs, **options, logits_processor=LogitsProcessorList([first]))
        total = self.target.now() - start
        prefill = total if first.at is None else first.at - start
        return out[0, inputs["input_ids"].shape[1]:].tolist(), {"prefill_s": prefill, "total_s": total}


class FirstStep:
    """A logits processor that changes nothing: it reads the clock when `generate` first calls it,
    i.e. once the prefill's logits are there, before the first token is chosen."""

    def __init__(self, clock):
        self.clock, self.at = clock, None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.at is None:
            self.at = self.clock()
        return scores


MAX_VERIFY_TOKENS = 8  # the largest verify forward the static target captures (γ ≤ 7)


def static_target(pair, video_frames: int, max_new_tokens: int, max_k: int = MAX_VERIFY_TOKENS) -> Target:
    """A `StaticTarget` whose cache holds the longest prompt the pair makes (`video_frames` frames,
    the question, the padding) plus a `max_new_tokens` answer, with a captured step for every query
    length up to `max_k` (at least MAX_VERIFY_TOKENS)."""
    from xsd.decode.static_target import StaticTarget
    from xsd.models.videollava import video_token_count

    prompt = max(video_token_count(pair.target.config, video_frames) + 512, pair.prompt_tokens.get("target", 0))
    max_k = max(max_k, MAX_VERIFY_TOKENS)
    return StaticTarget(pair.target, max_length=prompt + max_new_tokens + max_k, max_k=max_k)
