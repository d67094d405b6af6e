"""The decoding methods compared in the live study, on one profile's models.

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

from xsd.config import Profile, load_profile
from xsd.decode.drafters import (HeadDrafter, NoDrafts, PauseDraftDuringVerify, PromptLookupDrafter,
                                 StopDraftAfterPrefill, TwoPhaseDrafter)
from xsd.decode.loop import speculative_generate
from xsd.decode.target import Target

from xsd.decode.names import METHODS, NEEDS_WORKER, POLICIES, PREFILL_ADAPTERS  # noqa: F401 (re-exported)


@dataclass
class Decoder:
    """Everything a profile's methods need, loaded once."""
    profile: Profile
    pair: object
    target: Target
    heads: dict
    gamma: int = 3
    policy: str = "wait"
    prefill_adapter: str | None = None
    worker: object = None
    threads: dict = field(default_factory=lambda: {"target": 1, "draft_process": 1})

    @classmethod
    def load(cls, profile: str | Profile, methods=METHODS, gamma: int = 3, policy: str = "wait",
             prefill_adapter: str | None = None, progress: bool = True, device=None,
             draft_device=None, prompt_tokens: dict | None = None, static: bool = False) -> "Decoder":
        """Models, heads and (when a method needs it) the draft worker, on `device` (None: the
        profile's); the draft VLM runs on `draft_device` (default: the same device).
        `prompt_tokens` ({side: n}) pads both sides' prompts to n tokens (see ModelPair.padded).
        `static`: every method but `ar` runs the target's steps over a static KV cache, as CUDA
        graphs on a GPU (`StaticTarget`); `ar-loop` is then the same-footing baseline."""
        from xsd.decode.draft_worker import DraftWorker
        from xsd.device import resolve
        from xsd.pipeline import ensure_adapters, ensure_models
        from xsd.train_adapters import decoding_adapter

        profile = load_profile(profile) if isinstance(profile, str) else profile
        device = resolve(device, profile)
        draft_device = resolve(draft_device, profile) if draft_device else device
        random_weights = profile.models.random_weights is not None
        pair = ensure_models(profile, progress, device, with_draft=False)  # the worker loads the draft
        if prompt_tokens:
            pair.prompt_tokens = dict(prompt_tokens)
        if not random_weights:
            ensure_adapters(profile, progress=progress)
        torch.set_num_threads(1)
        names = (["B1"] if "b1" in methods else []) + (["L5F"] if any(m in methods for m in NEEDS_WORKER) else [])
        heads = {name: decoding_adapter(profile, name, device) for name in names}
        worker = None
        if any(m in methods for m in NEEDS_WORKER):
            if "two-phase" in methods and not prefill_adapter:
                # random weights: the costliest per-position adapter, since no choice is measurable there
                prefill_adapter = "L4" if random_weights else best_prefill_adapter(profile)
            # the worker reads the same profile file (a custom .yaml profile too), not just its name
            # both LLMs share one hidden size, so the draft's states have the target's width
            worker = DraftWorker(profile.source or profile.name, pair.target.config.text_config.hidden_size,
                                 profile.extract.max_new_tokens + 1, prefill_adapter=prefill_adapter,
                                 device=str(draft_device), prompt_tokens=pair.prompt_tokens)
        threads = {"target": 1, "draft_process": 1, "device": str(device), "draft_device": str(draft_device)}
        threads["static_target"] = static
        target = static_target(profile, pair) if static else Target(pair.target)
        return cls(profile, pair, target, heads, gamma, policy, prefill_adapter, worker, threads)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()

    @property
    def lm_head(self) -> torch.Tensor:
        return self.target.lm_head.weight

    def run(self, method: str, event_frames, video_frames, question: str, max_new_tokens: int,
            temperature: float = 0.0, seed: int = 0) -> dict:
        """Decode one sample with `method`; returns tokens, text, wall time and statistics.

        Every method reads its inputs alike: max_new_tokens ≥ 1, temperature ≥ 0 (0 is greedy),
        γ ≥ 1; a value out of range is a ValueError (see `xsd.arguments.check_decoding`)."""
        from xsd.arguments import check_decoding

        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        check_decoding(max_new_tokens, temperature, self.gamma)
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
            drafter, feed, head = self._drafter(method, inputs, temperature, seed)
            result = speculative_generate(self.target, inputs, drafter, max_new_tokens, tokenizer.eos_token_id,
                                          temperature, seed)
            tokens, stats = result.tokens, result.stats.as_dict()
            if head is not None:
                stats.update(head=head.head.name, head_s=head.head_s, head_calls=head.head_calls)
        stats["inputs_s"] = inputs_s  # building the target's inputs: outside prefill_s and total_s
        wall = time.perf_counter() - start
        if method in NEEDS_WORKER:
            stats.update(egpt_wait_s=feed.waited_s, egpt_missing=feed.missing, egpt_read=feed.read, policy=self.policy,
                         prefill_adapter=self.prefill_adapter if method == "two-phase" else None)
            self.worker.finish()
        return {"method": method, "tokens": tokens, "text": tokenizer.decode(tokens, skip_special_tokens=True),
                "wall_s": wall, "stats": stats, "gamma": self.gamma if method not in ("ar", "ar-loop") else None}

    def _drafter(self, method: str, inputs: dict, temperature: float, seed: int):
        """(drafter, the EgptFeed it reads or None, its HeadDrafter or None)."""
        if method == "ar-loop":
            return NoDrafts(), None, None
        if method == "prompt-lookup":
            return PromptLookupDrafter(inputs["input_ids"][0].tolist(), self.gamma), None, None
        if method == "b1":
            head = HeadDrafter(self.heads["B1"], self.lm_head, self.gamma, temperature, seed=seed)
            return head, None, head
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; choose one of {', '.join(POLICIES)}")
        feed = self.worker.feed("wait" if self.policy in ("wait", "pause-verify") else "degrade")
        head = HeadDrafter(self.heads["L5F"], self.lm_head, self.gamma, temperature, feed=feed, seed=seed)
        drafter = head if method == "l5f" else TwoPhaseDrafter(self.worker.prefill_candidates(), head)
        if self.policy == "prefill-only":
            drafter = StopDraftAfterPrefill(drafter, self.worker.release)
        elif self.policy == "pause-verify":
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


def static_target(profile: Profile, pair, max_k: int = MAX_VERIFY_TOKENS) -> Target:
    """A `StaticTarget` whose cache holds the longest prompt the profile makes plus its answer,
    with a captured step for every query length up to `max_k` (at least MAX_VERIFY_TOKENS)."""
    from xsd.decode.static_target import StaticTarget
    from xsd.models.videollava import video_token_count

    prompt = max(video_token_count(pair.target.config, profile.models.video_frames) + 512,
                 pair.prompt_tokens.get("target", 0))
    max_k = max(max_k, MAX_VERIFY_TOKENS)
    return StaticTarget(pair.target, max_length=prompt + profile.extract.max_new_tokens + max_k, max_k=max_k)


def best_prefill_adapter(profile: Profile) -> str:
    """The per-position adapter with the most prefill free tokens on the test store."""
    from xsd import metrics
    from xsd.extract import load_lm_head, open_store
    from xsd.store import collate
    from xsd.train_adapters import predict, trained_adapter

    store, lm_head = open_store(profile, "test"), load_lm_head(profile)
    records = list(store.records())
    batch = collate(records)
    scores = {}
    with torch.no_grad():
        for name in PREFILL_ADAPTERS:
            adapter = trained_adapter(profile, name)[0]
            tokens = metrics.lm_tokens(predict(adapter, name, batch), lm_head)
            scores[name] = metrics.prefill_free_tokens(tokens, batch.tok_vl, batch.mask_pair)
    return max(scores, key=scores.get)
