"""Drafting strategies for the verification loop.

- `HeadDrafter`: EAGLE-style chain drafting with a next-state head (B1 reads the target's states;
  L5F also reads the draft model's states, position by position, from an `EgptFeed`).
- `PrefillCandidates`: phase 1 — tokens the draft side made while the target was prefilling.
- `TwoPhaseDrafter`: phase 1, then a head.
- `StopDraftAfterPrefill`: any of these with the draft VLM stopped once the target's prefill ends.
"""
from __future__ import annotations

import time

import torch

from xsd.adapters import KVCache
from xsd.device import now
from xsd.decode.loop import Proposal, role_generator


class EgptFeed:
    """The draft model's hidden states h_egpt[t], as its own generation produces them.

    `rows` [N, H] and `ready` (how many rows are filled) may live in shared memory and be
    filled by another process. `policy` says what a reader does when row t is not there yet:
    "wait" blocks until it is (or the draft finished); "degrade" uses a zero row, as training
    saw beyond the end of the draft's answer.
    """

    def __init__(self, rows: torch.Tensor, ready, finished=None, policy: str = "wait"):
        if policy not in ("wait", "degrade"):
            raise ValueError(f"policy must be 'wait' or 'degrade', got {policy!r}")
        self.rows, self.ready, self.finished, self.policy = rows, ready, finished, policy
        self.waited_s = 0.0
        self.missing = 0
        self.read = 0  # rows the draft had written when asked for

    @classmethod
    def complete(cls, rows: torch.Tensor) -> "EgptFeed":
        """All rows known in advance (offline evaluation, tests)."""
        return cls(rows, _Fixed(rows.shape[0]), finished=_Fixed(1))

    def get(self, t: int) -> torch.Tensor:
        if self.policy == "wait" and self.ready.value <= t and not self._finished():
            start = time.perf_counter()
            while self.ready.value <= t and not self._finished():
                time.sleep(0.0002)
            self.waited_s += time.perf_counter() - start
        if t < self.ready.value:
            self.read += 1
            return self.rows[t]
        self.missing += 1
        return torch.zeros(self.rows.shape[1], dtype=self.rows.dtype)

    def _finished(self) -> bool:
        return self.finished is not None and bool(self.finished.value)


class _Fixed:
    def __init__(self, value: int):
        self.value = value


class HeadDrafter:
    """Chain drafting of γ tokens with a next-state head and the target's LM head."""

    def __init__(self, head, lm_head: torch.Tensor, gamma: int, temperature: float = 0.0,
                 feed: EgptFeed | None = None, seed: int = 0):
        if "egpt" in head.streams and feed is None:
            raise ValueError(f"{head.name} reads the draft model's states: give it an EgptFeed")
        self.head, self.lm_head, self.gamma, self.temperature, self.feed = head.eval(), lm_head, gamma, temperature, feed
        # its own stream of the decode's seed, independent of the loop's ("target") draws
        self.generator = role_generator(seed, "draft", lm_head.device)
        self.head_s, self.head_calls = 0.0, 0  # time inside the head's own forward calls

    def first_proposal(self) -> Proposal | None:
        return None

    def start(self, first_token: int, first_state: torch.Tensor) -> None:
        self.cache = KVCache()
        self.length = 0
        self._advance(first_state[None])

    @torch.no_grad()
    def _advance(self, states: torch.Tensor) -> None:
        """Commit the target's true states for the next positions; predict the following state."""
        self.cache.crop(self.length)
        self.prediction = self._step(states, self.length)
        self.length += states.shape[0]

    def _step(self, states: torch.Tensor, position: int) -> torch.Tensor:
        vl = states[None].to(self.lm_head.dtype)
        egpt = None
        if "egpt" in self.head.streams:
            rows = torch.stack([self.feed.get(position + i) for i in range(states.shape[0])])
            egpt = rows[None].to(vl.device, vl.dtype)  # the feed's rows come through shared CPU memory
        start = now(vl.device)
        state = self.head.next_state(*self.head.inputs(egpt, vl), cache=self.cache)[0, -1]
        self.head_s += now(vl.device) - start
        self.head_calls += 1
        return state

    @torch.no_grad()
    def propose(self, max_tokens: int) -> Proposal:
        count = min(self.gamma, max_tokens)
        tokens, rows = [], []
        state = self.prediction
        for i in range(count):
            logits = self.lm_head @ state
            if self.temperature > 0:
                q = torch.softmax(logits.float() / self.temperature, dim=-1)
                tokens.append(int(torch.multinomial(q, 1, generator=self.generator)))
                rows.append(q)
            else:
                tokens.append(int(logits.argmax()))
            if i + 1 < count:  # the head reads its own prediction as the next input
                state = self._step(state[None], self.length + i)
        return Proposal(tokens, torch.stack(rows) if rows else None)

    def accepted(self, tokens: list[int], states: torch.Tensor) -> None:
        self._advance(states)


class PrefillCandidates:
    """Phase 1: the draft side's candidates for answer positions 0, 1, … (per-position adapter
    → the target's LM head), taken as they stand when the target's prefill ends."""

    def __init__(self, tokens: torch.Tensor, ready, q: torch.Tensor | None = None):
        self.tokens, self.ready, self.q = tokens, ready, q
        self.taken = 0

    def first_proposal(self) -> Proposal | None:
        self.taken = int(self.ready.value)
        if self.taken == 0:
            return None
        q = None if self.q is None else self.q[:self.taken].clone()
        return Proposal(self.tokens[:self.taken].tolist(), q)


class TwoPhaseDrafter:
    """Phase-1 candidates first, then chain drafting with a head."""

    def __init__(self, prefill: PrefillCandidates, head: HeadDrafter):
        self.prefill, self.head = prefill, head

    def first_proposal(self) -> Proposal | None:
        return self.prefill.first_proposal()

    def start(self, first_token: int, first_state: torch.Tensor) -> None:
        self.head.start(first_token, first_state)

    def propose(self, max_tokens: int) -> Proposal:
        return self.head.propose(max_tokens)

    def accepted(self, tokens: list[int], states: torch.Tensor) -> None:
        self.head.accepted(tokens, states)


class StopDraftAfterPrefill:
    """A drafter whose draft VLM is stopped when the target's prefill ends (the `prefill-only`
    policy): phase 1's candidates are taken first, then `release` ends the draft's generation, so
    the decode phase has the cores to itself and L5F reads zero rows past what the draft made."""

    def __init__(self, drafter, release):
        self.drafter, self.release = drafter, release

    def first_proposal(self) -> Proposal | None:
        proposal = self.drafter.first_proposal()
        self.release()
        return proposal

    def start(self, first_token: int, first_state: torch.Tensor) -> None:
        self.drafter.start(first_token, first_state)

    def propose(self, max_tokens: int) -> Proposal:
        return self.drafter.propose(max_tokens)

    def accepted(self, tokens: list[int], states: torch.Tensor) -> None:
        self.drafter.accepted(tokens, states)


class PauseDraftDuringVerify:
    """A drafter whose draft VLM is paused while the target verifies (the `pause-verify` policy):
    paused once a round's drafts are proposed, resumed before the accepted states are committed,
    since committing may read the draft's next rows."""

    def __init__(self, drafter, pause, resume):
        self.drafter, self.pause, self.resume = drafter, pause, resume

    def first_proposal(self) -> Proposal | None:
        return self.drafter.first_proposal()

    def start(self, first_token: int, first_state: torch.Tensor) -> None:
        self.drafter.start(first_token, first_state)

    def propose(self, max_tokens: int) -> Proposal:
        proposal = self.drafter.propose(max_tokens)
        self.pause()
        return proposal

    def accepted(self, tokens: list[int], states: torch.Tensor) -> None:
        self.resume()
        self.drafter.accepted(tokens, states)


class PromptLookupDrafter:
    """Prompt-lookup decoding: the tokens that followed the latest n-gram's first earlier
    occurrence in the prompt or the answer so far (the algorithm of transformers'
    PromptLookupCandidateGenerator, run in this loop: transformers' own path re-sends the video
    pixels on verification and fails for Video-LLaVA)."""

    def __init__(self, prompt_ids: list[int], gamma: int, max_ngram: int = 2):
        self.sequence, self.gamma, self.max_ngram = list(prompt_ids), gamma, max_ngram

    def first_proposal(self) -> Proposal | None:
        return None

    def start(self, first_token: int, first_state: torch.Tensor) -> None:
        self.sequence.append(first_token)

    def propose(self, max_tokens: int) -> Proposal:
        count = min(self.gamma, max_tokens)
        sequence = torch.tensor(self.sequence)
        for size in range(min(self.max_ngram, len(self.sequence) - 1), 0, -1):
            windows = sequence.unfold(0, size, 1)[:-1]  # every earlier n-gram, not the last one itself
            hits = (windows == sequence[-size:]).all(dim=1).nonzero().flatten().tolist()
            for hit in hits:
                follow = self.sequence[hit + size:hit + size + count]
                if follow:
                    return Proposal(follow)
        return Proposal([])

    def accepted(self, tokens: list[int], states: torch.Tensor) -> None:
        self.sequence.extend(tokens)


class NoDrafts:
    """Proposes nothing: the loop then decodes autoregressively, one target forward per token."""

    def first_proposal(self) -> Proposal | None:
        return None

    def start(self, first_token: int, first_state: torch.Tensor) -> None:
        pass

    def propose(self, max_tokens: int) -> Proposal:
        return Proposal([])

    def accepted(self, tokens: list[int], states: torch.Tensor) -> None:
        pass
