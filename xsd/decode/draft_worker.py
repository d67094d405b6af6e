"""The draft VLM in its own process, publishing its hidden states as it generates.

Two models decoding in two Python threads slow each other through the GIL, on a CPU and on a GPU
alike, while two processes run side by side, so the draft runs in a process of its own: on the
CPU with one intra-op thread, on a GPU beside the target (the two then share the GPU and slow
each other, which the benchmark measures) or on a second GPU (`draft_device`). The worker loads
the draft model and the target's LM head only, never a second target. For every job (one sample's event frames and question) it encodes the
frames, prefills, and decodes greedily; after each token t it writes into shared memory

    states[t]      h_egpt[t], the draft's last-layer state whose argmax is its token t
    candidates[t]  phase 1's candidate for the target's token t: argmax of the target's LM head
                   over the per-position adapter's image of h_egpt[t] (when an adapter is given)

and only then raises `ready` to t + 1, so a reader never sees a half-written row. The main
process reads these through `EgptFeed` (for L5F) and `PrefillCandidates` (for phase 1).
"""
from __future__ import annotations

import torch
import torch.multiprocessing as mp

from xsd.decode.drafters import EgptFeed, PrefillCandidates

LOADED, DONE = "loaded", "done"


class DraftWorker:
    def __init__(self, profile: str, hidden_size: int, max_tokens: int, prefill_adapter: str | None = None,
                 threads: int = 1, device: str = "cpu", prompt_tokens: dict | None = None,
                 start_timeout_s: float = 600):
        context = mp.get_context("spawn")
        self.states = torch.zeros(max_tokens, hidden_size).share_memory_()
        self.candidates = torch.zeros(max_tokens, dtype=torch.long).share_memory_()
        self.ready = context.Value("i", 0, lock=False)
        self.finished = context.Value("i", 0, lock=False)
        self.stop = context.Value("i", 0, lock=False)
        self.paused = context.Value("i", 0, lock=False)
        self.jobs, self.replies = context.Queue(), context.Queue()
        self.busy = False
        self.process = context.Process(
            target=_serve, daemon=True,
            args=(profile, prefill_adapter, threads, str(device), prompt_tokens, self.states, self.candidates, self.ready, self.finished,
                  self.stop, self.paused, self.jobs, self.replies),
        )
        self.process.start()
        reply = self.replies.get(timeout=start_timeout_s)
        if reply != LOADED:
            raise RuntimeError(f"the draft worker failed to start: {reply}")

    def submit(self, event_frames, question: str, ignore_eos: bool = False) -> None:
        """Start drafting one sample (returns at once); `ignore_eos` keeps the draft decoding up to
        its token budget (for measuring what it costs the target)."""
        if self.busy:
            self.finish()
        self.ready.value, self.finished.value, self.stop.value, self.paused.value = 0, 0, 0, 0
        self.jobs.put((event_frames, question, ignore_eos))
        self.busy = True

    def feed(self, policy: str = "wait") -> EgptFeed:
        return EgptFeed(self.states, self.ready, self.finished, policy)

    def prefill_candidates(self) -> PrefillCandidates:
        return PrefillCandidates(self.candidates, self.ready)

    def pause(self) -> None:
        """Hold the draft before its next decode step (it finishes the step under way)."""
        self.paused.value = 1

    def resume(self) -> None:
        self.paused.value = 0

    def release(self) -> None:
        """Let the current job end early (its rows so far stay readable); `finish` still acknowledges it."""
        if self.busy:
            self.stop.value = 1

    def finish(self) -> None:
        """Stop the current job and wait until the worker is idle."""
        if not self.busy:
            return
        self.stop.value = 1
        reply = self.replies.get(timeout=600)
        self.busy = False
        if reply != DONE:
            raise RuntimeError(f"the draft worker failed: {reply}")

    def close(self) -> None:
        if self.process.is_alive():
            self.finish()
            self.jobs.put(None)
            self.process.join(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _serve(profile, prefill_adapter, threads, device, prompt_tokens, states, candidates, ready, finished, stop,
           paused, jobs, replies):
    torch.set_num_threads(threads)
    try:
        draft = _DraftSide(profile, prefill_adapter, device)
        if prompt_tokens:
            draft.pair.prompt_tokens = dict(prompt_tokens)
    except Exception as error:  # reported to the parent, which raises it
        replies.put(f"{type(error).__name__}: {error}")
        return
    replies.put(LOADED)
    while (job := jobs.get()) is not None:
        try:
            draft.run(*job, states, candidates, ready, stop, paused)
            reply = DONE
        except Exception as error:
            reply = f"{type(error).__name__}: {error}"
        finished.value = 1
        while not stop.value:  # the parent acknowledges the end of every job with `stop`
            stop_wait()
        replies.put(reply)


def stop_wait():
    import time

    time.sleep(0.0005)


class _DraftSide:
    """The draft model, the target's LM head and the phase-1 adapter, inside the worker."""

    def __init__(self, profile: str, prefill_adapter: str | None, device: str):
        from xsd.config import load_profile
        from xsd.models.registry import draft_side

        settings = load_profile(profile)
        self.device = torch.device(device)
        self.pair, self.lm_head_vl = draft_side(settings, self.device)
        self.model = self.pair.draft
        self.eos = self.pair.draft_tokenizer.eos_token_id
        self.adapter = None
        if prefill_adapter:
            from xsd.train_adapters import decoding_adapter

            self.adapter = decoding_adapter(settings, prefill_adapter, self.device)

    @torch.no_grad()
    def run(self, event_frames, question, ignore_eos, states, candidates, ready, stop, paused) -> None:
        from transformers import DynamicCache

        from xsd.adapters import KVCache

        inputs = self.pair.inputs("draft", event_frames, question)
        cache, adapter_cache = DynamicCache(), KVCache()
        hidden = self.model.model(**inputs, past_key_values=cache, use_cache=True).last_hidden_state[0, -1]
        language_model = getattr(self.model.model, "language_model", self.model.model)
        for t in range(states.shape[0]):
            token = int(self.model.lm_head(hidden).argmax())
            states[t] = hidden
            if self.adapter is not None:
                mapped = self.adapter(hidden[None, None], cache=adapter_cache)[0, -1]
                candidates[t] = int((self.lm_head_vl @ mapped).argmax())
            ready.value = t + 1  # the row copies above waited for the device: the rows are complete
            if (token == self.eos and not ignore_eos) or stop.value:
                return
            while paused.value and not stop.value:
                stop_wait()
            ids = torch.tensor([[token]], device=self.device)
            hidden = language_model(input_ids=ids, past_key_values=cache, use_cache=True).last_hidden_state[0, -1]
