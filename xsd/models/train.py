"""Training the mini models the way the real ones were built, in two stages.

(A) `TowerPretraining`: each CLIP tower learns dense scene attributes (categorical, -100 where not
    visible) from single frames — the stand-in for CLIP/LanguageBind pretraining.
(C) Instruction tuning of projector + LLM on the frozen tower's cached features (stage B caches
    them), loss on the answer tokens only (`conversation_batch`, `tuning_batch`).

Both stages run through `run_steps`: deterministic by seed (the batch of step i depends only on
(seed, i)), resumable (a killed run restarted continues from its last checkpoint and ends with the
same weights), checkpoints written atomically into a folder keyed by the config's hash.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from xsd.models.config import PRECISIONS

IGNORE = -100


# -- the resumable loop ---------------------------------------------------------------------------

@dataclass
class LoopSettings:
    steps: int
    lr: float
    seed: int
    log_every: int = 50
    checkpoint_every: int = 200
    warmup: int = 20
    weight_decay: float = 0.0
    precision: str = "float32"  # "bfloat16": the forward under bf16 autocast, weights and optimizer in fp32


def cosine_with_warmup(warmup: int, steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


def run_steps(model: nn.Module, loss_of_step: Callable[[int], torch.Tensor], settings: LoopSettings,
              directory: Path, log: Callable[[str], None] = print, stop_after: int | None = None) -> list[float]:
    """Train the parameters of `model` that require grad; returns the loss of every step.

    `loss_of_step(i)` builds step i's batch (from seed and i alone) and returns its loss.
    `stop_after` ends the run early (as a kill would), leaving a checkpoint to resume from; a
    run resumed at or past that step stops at once.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(settings.warmup, settings.steps))
    state_file = Path(directory) / "state.pt"
    start, losses = _resume(state_file, model, optimizer, schedule)
    if stop_after is not None and start >= stop_after:
        return losses
    if start:
        log(f"resuming at step {start}/{settings.steps}")
    warn_of_emulated_bf16(settings.precision, params, log)
    model.train()
    for step in range(start, settings.steps):
        with autocast(settings.precision, params):
            loss = loss_of_step(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        done = step + 1
        if done % settings.log_every == 0 or done == settings.steps:
            recent = losses[-settings.log_every:]
            log(f"step {done}/{settings.steps}  loss {sum(recent) / len(recent):.4f}")
        if done % settings.checkpoint_every == 0 or done == settings.steps or done == stop_after:
            _save(state_file, model, optimizer, schedule, done, losses)
        if done == stop_after:
            break
    model.eval()
    return losses


def autocast(precision: str, params: list[torch.Tensor]):
    """The forward's precision context: bf16 autocast on the parameters' device (matrix products in
    bf16, reductions and the loss in fp32), or nothing for float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, found {precision!r}")
    device = params[0].device.type if params else "cpu"
    return torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bfloat16")


def warn_of_emulated_bf16(precision: str, params: list[torch.Tensor], log: Callable[[str], None]) -> None:
    """bf16 autocast on hardware that only emulates bf16 is several times slower than float32:
    say so before the run rather than let a half-hour job take hours."""
    from xsd.device import native_bf16

    device = params[0].device if params else torch.device("cpu")
    if precision == "bfloat16" and not native_bf16(device):
        log(f"warning: precision bfloat16 on a {device.type} without bf16 instructions: every step "
            "emulates bf16 and runs several times slower than float32 (set precision: float32)")


def _trainable_state(model: nn.Module) -> dict:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {n: t for n, t in model.state_dict().items() if n in names}


def _save(path: Path, model, optimizer, schedule, step: int, losses: list[float]) -> None:
    from xsd.cache import torch_save_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    torch_save_atomic({"step": step, "model": _trainable_state(model), "optimizer": optimizer.state_dict(),
                       "schedule": schedule.state_dict(), "losses": losses}, path)


def _resume(path: Path, model, optimizer, schedule) -> tuple[int, list[float]]:
    if not path.is_file():
        return 0, []
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"], strict=False)
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return state["step"], list(state["losses"])


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random source of one step: a function of (seed, step) only, so resuming is exact."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


# -- stage A: vision towers on dense scene attributes ---------------------------------------------

class TowerPretraining(nn.Module):
    """A CLIP vision tower with one linear head per attribute over all its tokens of one layer
    (the layer the VLM will read, so what the heads learn is what the projector gets).

    Heads that read the tokens as an attention head of the LLM does (a learned query weighing
    the tokens, one value map shared by every token) were tried on mini, so that what the tower
    tells apart would be what the LLM can read: the towers then told far less apart (the draft's
    direction 29% against 54%, the lane positions 24-25% against 76-86%) and the two VLMs were
    no better (key-fact accuracy, 40 test questions per type: target 52.5%, draft 42.8%, one run
    whose target may have resumed stage C from an interrupted run; with the flattened heads below,
    though with the earlier shorter answers, 51% and 55%).

    `clip_classes` adds heads over the tokens of `frames_per_clip` frames of one clip together,
    for what no single frame shows (an RGB frame shows no motion): they make the tower encode
    position and size precisely enough that the frames' features tell the motion apart, as
    LanguageBind's video encoder is pretrained on clips. Pixels then come clip by clip."""

    def __init__(self, vision_config, attribute_classes: dict[str, int], feature_layer: int,
                 clip_classes: dict[str, int] | None = None, frames_per_clip: int = 1,
                 patch_classes: dict[str, int] | None = None, place_heads: bool = False):
        super().__init__()
        from transformers import CLIPVisionModel

        self.tower = CLIPVisionModel(vision_config)
        self.feature_layer = feature_layer
        self.frames_per_clip = frames_per_clip
        n_tokens = (vision_config.image_size // vision_config.patch_size) ** 2 + 1
        width = n_tokens * vision_config.hidden_size
        self.heads = nn.ModuleDict({name: nn.Linear(width, n) for name, n in attribute_classes.items()})
        self.clip_heads = nn.ModuleDict({name: nn.Linear(width * frames_per_clip, n)
                                         for name, n in (clip_classes or {}).items()})
        self.patch_heads = nn.ModuleDict({name: nn.Linear(vision_config.hidden_size, n)
                                          for name, n in (patch_classes or {}).items()})
        grid = vision_config.image_size // vision_config.patch_size
        self.place_heads = nn.ModuleDict({name: nn.Linear(vision_config.hidden_size, grid)
                                          for name in (PLACE_HEADS if place_heads else ())})

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """[n, 3, S, S] → [n, tokens, C]: what stage B caches."""
        out = self.tower(pixels, output_hidden_states=True)
        return out.hidden_states[self.feature_layer]

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-frame logits [n, classes] and, with clip heads, per-clip logits [n / frames_per_clip, classes]."""
        features = self.features(pixels)
        flat = features.flatten(1)
        out = {name: head(flat) for name, head in self.heads.items()}
        clips = flat.reshape(-1, self.frames_per_clip * flat.shape[1])
        out.update({name: head(clips) for name, head in self.clip_heads.items()})
        out.update({name: head(features[:, 1:]) for name, head in self.patch_heads.items()})
        out.update({name: head(features[:, 1:]) for name, head in self.place_heads.items()})
        return out


PLACE_HEADS = ("token_column", "token_row")


def token_places(name: str, logits: torch.Tensor) -> torch.Tensor:
    """What a place head [n, patches, grid] should say of each patch token: its column or its row."""
    grid = logits.shape[-1]
    index = torch.arange(logits.shape[1], device=logits.device)
    place = index % grid if name == "token_column" else index // grid
    return place.expand(logits.shape[0], -1)


def attribute_loss(logits: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over attributes of the cross-entropy on the visible ones (target -100: not visible);
    a per-patch head's multi-hot targets [n, patches, c] count as one attribute (binary cross-entropy)."""
    losses = [place_loss(name, logits[name]) if name in PLACE_HEADS else
              patch_loss(logits[name], targets[name]) if logits[name].ndim == 3 else
              nn.functional.cross_entropy(logits[name], targets[name], ignore_index=IGNORE)
              for name in logits if name in PLACE_HEADS or logits[name].ndim == 3 or (targets[name] != IGNORE).any()]
    return torch.stack(losses).mean()


PATCH_POSITIVE_WEIGHT = 5.0


def patch_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of multi-hot targets [n, patches, c], summed over the labels of a patch
    and averaged over patches, a present label weighing PATCH_POSITIVE_WEIGHT: most patches show
    nothing, and a head that says "nothing" everywhere would otherwise cost almost nothing."""
    weight = torch.full((logits.shape[-1],), PATCH_POSITIVE_WEIGHT, device=logits.device)
    per_label = nn.functional.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), pos_weight=weight,
                                                               reduction="none")
    return per_label.sum(-1).mean()


def place_loss(name: str, logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of a place head against every token's own column or row."""
    return nn.functional.cross_entropy(logits.flatten(0, 1), token_places(name, logits).flatten())


def attribute_accuracy(logits: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> dict[str, float]:
    accuracy = {}
    for name, value in logits.items():
        if name in PLACE_HEADS:
            accuracy[name] = (value.argmax(-1) == token_places(name, value)).float().mean().item()
            continue
        if value.ndim == 3:  # per patch, multi-hot: every label right, over the patches showing something
            shown = targets[name].bool().any(-1)
            if shown.any():
                right = ((value > 0) == targets[name].bool()).all(-1)
                accuracy[name] = right[shown].float().mean().item()
            continue
        visible = targets[name] != IGNORE
        if visible.any():
            accuracy[name] = (value.argmax(-1)[visible] == targets[name][visible]).float().mean().item()
    return accuracy


# -- stage C: projector + LLM on cached tower features --------------------------------------------

@dataclass
class Example:
    """One instruction-tuning example, independent of where it came from."""
    features: torch.Tensor  # cached tower features: [event frames or video frames, tokens, C]
    question: str
    answer: str


def answer_ids(tokenizer, answer: str) -> list[int]:
    """The answer as the model must produce it after `ASSISTANT:`, ending with EOS."""
    return tokenizer(" " + answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


@dataclass
class Conversation:
    """Several question/answer turns about one clip: the visual tokens are computed once and
    every answer is supervised (see `conversation_batch` for how the turns stay independent)."""
    features: torch.Tensor
    turns: list[tuple[str, str]]  # (question, answer); the first turn carries the visual tokens
    caption: str | None = None    # a turn with no question: the visual tokens, then this text (LLaVA's stage 1)


def tuning_batch(model, tokenizer, side: str, examples: list[Example]) -> dict:
    """Inputs + labels (answer tokens only) of a right-padded batch of one-turn examples."""
    conversations = [Conversation(e.features, [(e.question, e.answer)]) for e in examples]
    return conversation_batch(model, tokenizer, side, conversations)


def conversation_batch(model, tokenizer, side: str, conversations: list[Conversation]) -> dict:
    """Inputs + labels (answer tokens only) of a right-padded batch, visual features projected
    (and pooled, for the draft) inside the graph so the projector trains.

    A conversation is packed as its shared visual prefix followed by every turn as the single-turn
    prompt's remainder plus the answer. Each turn sees the prefix and itself only (a block mask,
    positions continuing from the prefix), so it is exactly the single-turn example the model
    is evaluated on: no turn can read a fact off an earlier answer instead of off the visual
    tokens, while those tokens are still computed once per clip."""
    return rows_batch(tokenizer, side, *conversation_rows(model, tokenizer, side, conversations))


def conversation_rows(model, tokenizer, side: str, conversations: list[Conversation]):
    """Per conversation its packed row (ids, labels, positions, segments: 0 for the shared
    prefix, k for turn k) and its projected visual features."""
    rows, visual = [], []
    for conversation in conversations:
        prompts, features, visual_id = _turn_prompts(model, tokenizer, side, conversation)
        visual.append(features)
        rows.append(_packed_row(tokenizer, prompts, [a for _, a in conversation.turns], visual_id,
                                conversation.caption))
    return rows, visual


def rows_batch(tokenizer, side: str, rows: list[dict], visual: list[torch.Tensor]) -> dict:
    """The model's inputs for `conversation_rows`' rows and visual features."""
    from xsd.models import eventgpt, videollava

    encoded = (eventgpt.as_encoder_outputs(visual) if side == "draft"
               else videollava.as_encoder_outputs(torch.cat(visual)))
    return {**packed_batch(tokenizer, rows), "mm_encoder_outputs": encoded}


PADDING = -1  # segment of padding tokens


def packed_batch(tokenizer, rows: list[dict]) -> dict:
    """Packed rows (ids, labels, positions, segments) right-padded into one batch, each turn
    masked to see only the shared prefix and itself (`turn_block_mask`)."""
    width = max(len(r["ids"]) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.tensor([r["ids"] + [pad] * (width - len(r["ids"])) for r in rows])
    label_ids = torch.tensor([r["labels"] + [IGNORE] * (width - len(r["labels"])) for r in rows])
    positions = torch.tensor([r["positions"] + [0] * (width - len(r["positions"])) for r in rows])
    segments = torch.tensor([r["segments"] + [PADDING] * (width - len(r["segments"])) for r in rows])
    return {"input_ids": input_ids, "attention_mask": turn_block_mask(segments), "position_ids": positions,
            "labels": label_ids}


def _turn_prompts(model, tokenizer, side: str, conversation: Conversation):
    """The single-turn prompt of every question, the clip's projected visual features and the
    id of the visual placeholder token."""
    from xsd.models import eventgpt, videollava

    features = conversation.features
    if side == "draft":
        projected = eventgpt.project_and_pool(model, features)
        n_visual, token = projected.shape[0], model.config.image_token_id
        prompts = [eventgpt.draft_input_ids(tokenizer, q, n_visual, token) for q, _ in conversation.turns]
    else:
        projected = videollava.project_video(model, features)
        n_visual, token = features.shape[0] * features.shape[1], model.config.video_token_id
        prompts = [videollava.target_input_ids(tokenizer, q, n_visual, token) for q, _ in conversation.turns]
    return prompts, projected, token


def _packed_row(tokenizer, prompts: list[list[int]], answers: list[str], visual_id: int,
                caption: str | None = None) -> dict:
    """Shared prefix (up to the last visual token) + per turn: prompt remainder, answer, EOS; a
    caption is a first turn with no prompt remainder (the text straight after the visual tokens)."""
    first = prompts[0]
    prefix_len = len(first) - first[::-1].index(visual_id)
    prefix = first[:prefix_len]
    row = {"ids": list(prefix), "labels": [IGNORE] * prefix_len, "positions": list(range(prefix_len)),
           "segments": [0] * prefix_len}
    if caption is not None:
        prompts, answers = [prefix] + list(prompts), [caption] + list(answers)
    for turn, (prompt, answer) in enumerate(zip(prompts, answers), start=1):
        if prompt[:prefix_len] != prefix:
            raise ValueError("the turns of a conversation must share the prompt up to the visual tokens")
        asked, said = prompt[prefix_len:], answer_ids(tokenizer, answer)
        row["ids"] += asked + said
        row["labels"] += [IGNORE] * len(asked) + said
        row["positions"] += list(range(prefix_len, prefix_len + len(asked) + len(said)))
        row["segments"] += [turn] * (len(asked) + len(said))
    return row


def turn_block_mask(segments: torch.Tensor) -> torch.Tensor:
    """[B, T] segment ids (0 = shared prefix, k = turn k, PADDING) → boolean [B, 1, T, T] mask:
    causal, and a turn sees only the prefix and itself (padding sees itself: no empty rows)."""
    n = segments.shape[1]
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    query, key = segments[:, :, None], segments[:, None, :]
    allowed = causal & ((key == 0) | (key == query)) & (query != PADDING)
    allowed |= torch.eye(n, dtype=torch.bool)
    return allowed[:, None]


def freeze_for_tuning(model) -> None:
    """Stage C trains projector + LLM; the vision tower(s) stay as stage A left them."""
    for name, param in model.named_parameters():
        param.requires_grad = "tower" not in name


def tuning_loss(model, tokenizer, side: str, examples: list[Example]) -> torch.Tensor:
    return model(**tuning_batch(model, tokenizer, side, examples)).loss


def conversation_loss(model, tokenizer, side: str, conversations: list[Conversation]) -> torch.Tensor:
    return model(**conversation_batch(model, tokenizer, side, conversations)).loss


def rows_loss(model, tokenizer, rows: list[dict]) -> torch.Tensor:
    """The mean loss over the supervised tokens of packed `rows` (ids, labels, positions, segments),
    the same as the loss of their padded batch (`packed_batch`), computed one row per forward pass.

    The base LLM's conversations differ in length by up to half, so their padded batch is about a
    fifth padding, computed in every layer and in the masked attention; a step of one forward
    pass per conversation took 0.78x the time of the padded one (two processes side by side, one
    thread each). Stage C's conversations share their visual prefix and differ less: there it
    saved a tenth on the target and cost a tenth on the draft, so stage C keeps its batches."""
    supervised = sum(sum(label != IGNORE for label in row["labels"][1:]) for row in rows)
    if not supervised:
        raise ValueError("none of the rows has a supervised token")
    return sum(model(**packed_batch(tokenizer, [row]), num_items_in_batch=supervised).loss for row in rows)


def sample_batch(n_examples: int, batch: int, seed: int, step: int) -> list[int]:
    """Indices of step's batch (with replacement across steps, without within a step)."""
    return torch.randperm(n_examples, generator=step_generator(seed, step))[:batch].tolist()
