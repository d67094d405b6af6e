"""Greedy generation that also returns the final-layer hidden states.

Alignment convention: states[t] is the last decoder layer's output (after the final norm, what the
LM head reads) whose argmax is tokens[t] — the state at the prompt's last position for t = 0,
the state at generated token t-1 afterwards.
"""
from __future__ import annotations

import torch


@torch.no_grad()
def greedy_with_states(model, inputs: dict, max_new_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens [T], states [T, H]) of one sample; T ≤ max_new_tokens (stops at EOS)."""
    out = model.generate(
        **inputs, max_new_tokens=max_new_tokens, do_sample=False,
        output_hidden_states=True, return_dict_in_generate=True,
    )
    tokens = out.sequences[0, inputs["input_ids"].shape[1]:]
    states = [step[-1][0, -1] for step in out.hidden_states]
    return tokens, torch.stack(states)[: len(tokens)]
