"""Greedy generation: one sample with its hidden states, or many at once, left-padded into batches.

Alignment convention: states[t] is the last decoder layer's output (after the final norm, what the
LM head reads) whose argmax is tokens[t] — the state at the prompt's last position for t = 0,
the state at generated token t-1 afterwards.

A batch gives each sample the tokens it gets alone: its pads are masked out of attention and its
positions count from its first real token. Only the order of a few sums differs, so a near tie
between two tokens may break the other way (the tests compare batched and lone answers).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

BATCH_SIZE = 16  # samples per batch: a decoding step of the mini models costs nearly as much for 1 as for 16


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


def left_padded(rows: list[torch.Tensor], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows ([1, n] or [n]) left-padded to the longest: (input_ids, attention_mask)."""
    rows = [row.reshape(-1) for row in rows]
    length = max(len(row) for row in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, length - len(row):], mask[i, length - len(row):] = row, 1
    return ids.to(rows[0].device), mask.to(rows[0].device)


def pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def batch_inputs(pair, side: str, items: list[dict]) -> tuple[dict, int]:
    """Single-sample model inputs of `side` (`ModelPair.inputs`) as one left-padded batch; returns
    the batch and the pad id."""
    pad = pad_id(pair.tokenizer(side))
    ids, mask = left_padded([x["input_ids"] for x in items], pad)
    batch = {"input_ids": ids, "attention_mask": mask}
    if side == "target":
        batch["pixel_values_videos"] = torch.cat([x["pixel_values_videos"] for x in items])
    else:
        from xsd.models.eventgpt import as_encoder_outputs

        pooled = [p for x in items for p in x["mm_encoder_outputs"]["image"].pooler_output]
        batch["mm_encoder_outputs"] = as_encoder_outputs(pooled)
    return batch, pad


def until_eos(row: list[int], eos: int) -> int:
    """How many of a generated row's tokens to keep: up to and including its first EOS."""
    return row.index(eos) + 1 if eos in row else len(row)


@torch.no_grad()
def generate_batch(pair, side: str, items: list[dict], max_new_tokens: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(tokens [T], states [T, H]) per sample; each sequence ends at its first EOS."""
    model, eos = pair.model(side), pair.tokenizer(side).eos_token_id
    batch, pad = batch_inputs(pair, side, items)
    out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad,
                         output_hidden_states=True, return_dict_in_generate=True)
    tokens = out.sequences[:, batch["input_ids"].shape[1]:]
    states = torch.stack([step[-1][:, -1] for step in out.hidden_states], dim=1)  # [B, T, H]
    results = []
    for row, row_states in zip(tokens.tolist(), states):
        length = until_eos(row, eos)
        results.append((torch.tensor(row[:length]), row_states[:length].cpu()))
    return results


@torch.no_grad()
def greedy_texts(model, tokenizer, batch: dict, max_new_tokens: int) -> list[str]:
    """The decoded greedy answer of each row of a left-padded batch, cut at its first EOS."""
    eos = tokenizer.eos_token_id
    out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad_id(tokenizer))
    rows = out[:, batch["input_ids"].shape[1]:].tolist()
    return [tokenizer.decode(row[:until_eos(row, eos)], skip_special_tokens=True).strip() for row in rows]


def answers(pair, side: str, inputs: Iterable[dict], max_new_tokens: int, batch_size: int = BATCH_SIZE) -> list[str]:
    """`side`'s greedy answer to each of `inputs` (single-sample model inputs, read lazily), in
    batches of `batch_size`."""
    model, tokenizer = pair.model(side), pair.tokenizer(side)
    return [text for items in batches(inputs, batch_size)
            for text in greedy_texts(model, tokenizer, batch_inputs(pair, side, items)[0], max_new_tokens)]


def text_answers(model, tokenizer, prompts: Iterable[list[int]], max_new_tokens: int,
                 batch_size: int = BATCH_SIZE) -> list[str]:
    """A text-only LM's greedy answer to each prompt (token ids), in batches of `batch_size`."""
    out = []
    for rows in batches(prompts, batch_size):
        ids, mask = left_padded([torch.tensor(row) for row in rows], pad_id(tokenizer))
        out += greedy_texts(model, tokenizer, {"input_ids": ids, "attention_mask": mask}, max_new_tokens)
    return out


def batches(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
