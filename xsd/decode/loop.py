"""One verification loop for every drafting strategy (methods §5).

    prefill the target ─► token 0 (verifying a phase-1 candidate for it, if any)
    repeat: drafter proposes k tokens ─► one target forward over [last, d1..dk]
            ─► accept the longest valid prefix + one token from the target ─► crop the cache

A drafter is anything with the four methods of `Drafter`: the shape of transformers'
CandidateGenerator, so phase 1, phase 2 and the baselines share this loop. Greedy decoding
accepts a draft when it equals the target's argmax, so the output is the target's own greedy
output. With a temperature, drafts are accepted by rejection sampling (Leviathan et al. 2023;
Chen et al. 2023) against the drafter's q, so the output follows the target's distribution.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

import torch

from xsd.decode.target import Target


@dataclass
class Proposal:
    tokens: list[int]
    q: torch.Tensor | None = None  # [k, V] draft distribution; None for a deterministic draft


class Drafter(Protocol):
    def first_proposal(self) -> Proposal | None:
        """Candidates for positions 0, 1, … ready when the target's prefill ends (phase 1)."""

    def start(self, first_token: int, first_state: torch.Tensor) -> None:
        """Token 0 and its target state h_vl[0] are known."""

    def propose(self, max_tokens: int) -> Proposal:
        """Up to `max_tokens` drafts following the tokens emitted so far."""

    def accepted(self, tokens: list[int], states: torch.Tensor) -> None:
        """The tokens one round emitted and their target states ([len(tokens), H])."""


@dataclass
class DecodeStats:
    prefill_s: float = 0.0
    draft_s: float = 0.0
    verify_s: float = 0.0
    total_s: float = 0.0
    free_tokens: int = 0              # phase-1 candidates accepted beyond what the prefill gives
    phase1_candidates: int = 0        # phase-1 candidates ready when the target's prefill ended
    rounds: list[int] = field(default_factory=list)    # drafts accepted in each verify forward
    proposed: list[int] = field(default_factory=list)  # drafts proposed in each verify forward
    emitted: list[int] = field(default_factory=list)   # tokens emitted by each verify forward
    verify_times: list[float] = field(default_factory=list)  # seconds of each verify forward (+ crop)

    @property
    def target_forwards(self) -> int:
        return len(self.rounds)

    @property
    def tau(self) -> float:
        """Tokens per verifying target forward, the target's own bonus/correction token included
        (token 0, which the prefill emits, is not counted)."""
        return sum(self.emitted) / max(len(self.emitted), 1)

    @property
    def other_s(self) -> float:
        return self.total_s - self.prefill_s - self.draft_s - self.verify_s

    def as_dict(self) -> dict:
        return {
            "prefill_s": self.prefill_s, "draft_s": self.draft_s, "verify_s": self.verify_s,
            "other_s": self.other_s, "total_s": self.total_s, "free_tokens": self.free_tokens,
            "phase1_candidates": self.phase1_candidates,
            "target_forwards": self.target_forwards, "tau": self.tau, "accepted_per_round": self.rounds,
            "proposed_per_round": self.proposed, "emitted_per_round": self.emitted,
            "verify_s_per_round": self.verify_times,
        }


@dataclass
class DecodeResult:
    tokens: list[int]
    stats: DecodeStats


RESIDUAL_EPSILON = 1e-6  # below this mass, max(0, p − q) is rounding noise, not a distribution


def role_generator(seed: int, role: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator for one role of a decode ("target": the loop's own draws; "draft": a
    drafter's), seeded from a hash of (seed, role): one decode seed gives each role its own
    stream, so a draft is drawn from q independently of the target's draws, as the rejection
    sampling rule assumes. `device` is where the probabilities it samples from live."""
    digest = hashlib.sha256(f"xsd-decode:{seed}:{role}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def verify(logits: torch.Tensor, proposal: Proposal, temperature: float,
           generator: torch.Generator | None) -> tuple[int, int | None]:
    """Accept a prefix of `proposal` against the target's logits for the same positions.

    `logits` has one row per draft, plus optionally one more for the position after the last
    draft. Returns (drafts accepted, the target's token for the first position not covered by an
    accepted draft — None when every row was used up by accepted drafts).
    """
    drafts = proposal.tokens
    if temperature == 0:
        choice = logits.argmax(dim=-1).tolist()
        n = 0
        while n < len(drafts) and choice[n] == drafts[n]:
            n += 1
        return n, (choice[n] if n < len(choice) else None)
    p = torch.softmax(logits.float() / temperature, dim=-1)
    for i, token in enumerate(drafts):
        q = proposal.q[i] if proposal.q is not None else _one_hot(token, p.shape[-1], p.device)
        if torch.rand((), generator=generator, device=p.device) < torch.clamp(p[i, token] / q[token], max=1.0):
            continue
        residual = (p[i] - q).clamp(min=0)
        mass = residual.sum()
        # its mass is the rejection probability 1 − Σ min(p, q): at ~0 a rejection is rounding, so take p
        correction = residual / mass if mass > RESIDUAL_EPSILON else p[i]
        return i, int(torch.multinomial(correction, 1, generator=generator))
    if len(drafts) < p.shape[0]:
        return len(drafts), int(torch.multinomial(p[len(drafts)], 1, generator=generator))
    return len(drafts), None


def _one_hot(token: int, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    q = torch.zeros(size, device=device)
    q[token] = 1.0
    return q


@torch.no_grad()
def speculative_generate(target: Target, inputs: dict, drafter: Drafter, max_new_tokens: int,
                         eos_token_id: int | None = None, temperature: float = 0.0,
                         seed: int = 0) -> DecodeResult:
    """Decode up to `max_new_tokens` (≥ 1) tokens; temperature 0 is greedy, > 0 samples (never < 0)."""
    from xsd.arguments import check_decoding

    check_decoding(max_new_tokens, temperature)
    stats = DecodeStats()
    generator = role_generator(seed, "target", target.device) if temperature > 0 else None
    now = target.now  # the clock read after the device's queued work, so times are the device's
    start = now()
    logits, state, cache = target.prefill(inputs)
    stats.prefill_s = now() - start
    prompt_length = cache.get_seq_length()

    tick = now()
    pending = drafter.first_proposal()
    stats.phase1_candidates = len(pending.tokens) if pending is not None else 0
    first, pending = _first_token(logits, pending, temperature, generator)
    tokens = [first]
    drafter.start(first, state)
    stats.draft_s += now() - tick
    while len(tokens) < max_new_tokens and tokens[-1] != eos_token_id:
        budget = max_new_tokens - len(tokens)
        tick = now()
        if pending is not None:
            proposal, pending = _truncate(pending, budget), None
            phase1 = True
        else:
            proposal, phase1 = _truncate(drafter.propose(budget), budget), False
        tock = now()
        row_logits, hidden = target.forward([tokens[-1], *proposal.tokens], cache)
        n, following = verify(row_logits, proposal, temperature, generator)
        target.crop(cache, prompt_length + len(tokens) + n)
        stats.verify_times.append(now() - tock)
        stats.verify_s += stats.verify_times[-1]
        stats.draft_s += tock - tick
        emitted = _stop_at_eos(proposal.tokens[:n] + [following], eos_token_id)[:budget]
        stats.rounds.append(n)
        stats.proposed.append(len(proposal.tokens))
        stats.emitted.append(len(emitted))
        if phase1:
            stats.free_tokens = n
        tokens += emitted
        tick = now()
        drafter.accepted(emitted, hidden[:len(emitted)])  # a head commits the accepted states
        stats.draft_s += now() - tick
    stats.total_s = now() - start
    return DecodeResult(tokens=tokens[:max_new_tokens], stats=stats)


def _first_token(logits, pending, temperature, generator) -> tuple[int, Proposal | None]:
    """Token 0 from the prefill's logits; a phase-1 candidate for it is verified like a draft."""
    if pending is None or not pending.tokens:
        return verify(logits[None], Proposal([]), temperature, generator)[1], None
    head = Proposal(pending.tokens[:1], None if pending.q is None else pending.q[:1])
    n, replacement = verify(logits[None], head, temperature, generator)
    if n == 0:
        return replacement, None
    rest = Proposal(pending.tokens[1:], None if pending.q is None else pending.q[1:])
    return pending.tokens[0], (rest if rest.tokens else None)


def _truncate(proposal: Proposal, budget: int) -> Proposal:
    """At most budget − 1 drafts, so the round's own token still fits the budget."""
    keep = max(budget - 1, 0)
    if len(proposal.tokens) <= keep:
        return proposal
    return Proposal(proposal.tokens[:keep], None if proposal.q is None else proposal.q[:keep])


def _stop_at_eos(tokens: list[int], eos_token_id: int | None) -> list[int]:
    if eos_token_id is not None and eos_token_id in tokens:
        return tokens[:tokens.index(eos_token_id) + 1]
    return tokens
