"""Stage C's optional distillation (`distill_weight`): the frozen base LLM reads each clip's scene in
words (the description its text pretraining read, from the side's own view) where the VLM reads
the visual tokens, and the VLM's LLM is pulled towards the base LLM's hidden states on the
question and answer tokens that follow.

Both read the same questions and answers after their prefix, so those tokens line up one to one,
and both LLMs start from the same weights, so their hidden states live in one space. The VLM thus
learns, per layer and token, what reading the scene should leave there, not only the answer's
next token. On mini (one run each, two batch seeds): the target 58.0% -> 63.0% and 58.0% ->
61.8% of its key facts at weight 5, the draft no better (55.0% -> 53.9%), so mini distils the
target only; see xsd/profiles/mini.yaml.
"""
from __future__ import annotations

from pathlib import Path

import torch

from xsd.models import mini_base, train


class SceneTeacher:
    """The frozen base LLM and the base tokenizer, reading scenes in words in one answer style."""

    def __init__(self, profile, directory: Path, style: str):
        self.model, self.tokenizer = mini_base.new_base_llm(profile, Path(directory))
        self.model.load_state_dict(mini_base.base_weights(Path(directory)))
        self.model.eval().requires_grad_(False)
        self.style = style

    @torch.no_grad()
    def turn_states(self, description: str, turns: list[tuple[str, str]]) -> tuple[list[int], tuple]:
        """The ids of the conversation's question and answer tokens and every layer's hidden states
        on them ([tokens, hidden] per layer, embeddings first)."""
        row = mini_base.conversation_row(self.tokenizer, self.style, description, turns)
        batch = train.packed_batch(self.tokenizer, [row])
        states = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                            position_ids=batch["position_ids"], output_hidden_states=True).hidden_states
        at = turn_indices(row)
        return [row["ids"][i] for i in at], tuple(layer[0, at] for layer in states)


def turn_indices(row: dict) -> list[int]:
    """Where a packed row's turns are (every token after the shared prefix)."""
    return [i for i, segment in enumerate(row["segments"]) if segment > 0]


def distilled_loss(model, tokenizer, side: str, conversations: list[train.Conversation],
                   descriptions: list[str], teacher: SceneTeacher, weight: float) -> torch.Tensor:
    """The answer tokens' loss plus `weight` times the mean, over conversations and layers 1..L,
    of the squared distance between the VLM's and the teacher's hidden states on the turns'
    tokens, relative to the teacher's squared norm there."""
    rows, visual = train.conversation_rows(model, tokenizer, side, conversations)
    out = model(**train.rows_batch(tokenizer, side, rows, visual), output_hidden_states=True)
    distances = []
    for b, (row, description, conversation) in enumerate(zip(rows, descriptions, conversations)):
        ids, targets = teacher.turn_states(description, conversation.turns)
        at = turn_indices(row)
        if [row["ids"][i] for i in at] != ids:
            raise ValueError(f"the {side}'s turns and the base LLM's differ in their tokens: "
                             "the two prompts no longer share their text after the visual tokens")
        for layer in range(1, len(targets)):
            mine, theirs = out.hidden_states[layer][b, at], targets[layer]
            distances.append(((mine - theirs) ** 2).mean() / (theirs ** 2).mean())
    return out.loss + weight * torch.stack(distances).mean()
