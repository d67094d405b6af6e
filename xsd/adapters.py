"""Hidden-state adapters (the book's methods page, §2) and the token-level TokenAdapter.

Per-position adapters map the draft's last-layer state to the target's at the same position:

    L1   LayerNorm → Linear(H → H/16) → GELU → Linear(→ H), residual with a learnable scale
    L2   three L1 blocks and a LayerNorm
    L3   one wide bottleneck (H/4) and a LayerNorm
    L4   causal self-attention + FFN + output projection

EAGLE-style heads predict the target's *next* state from a causal context:

    L5   h_egpt[≤t] → h_vl[t+1], plus an alignment output for h_vl[t] (the dual objective)
    B1   h_vl[≤t] → h_vl[t+1], the same-model EAGLE baseline
    L5F  (h_egpt, h_vl)[≤t] → h_vl[t+1], a learned gate fusing both streams, plus alignment

Attention is written with plain tensor ops (no framework layers) so a head step stays cheap,
and every causal module takes an optional `KVCache` so a decoder can feed it one position at a
time. With H = 4096 and default sizes, L1 has 2.1M and L2 6.3M parameters as in the seeds; L3
has 8.4M (4096 → 1024 → 4096), not the 16.8M the seeds report for that architecture.

One module, a little over 300 lines: every adapter is built from the same blocks (the cache,
the causal block, the bottleneck), which a reader compares side by side.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from xsd.names import ADAPTERS, NEXT_STATE, PER_POSITION  # noqa: F401 (the adapters' names, re-exported)


@dataclass
class KVCache:
    """Keys and values of the positions a causal module has already seen ([B, heads, T, d])."""
    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)

    @property
    def length(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            self.keys = torch.cat([self.keys, keys], dim=2)
            self.values = torch.cat([self.values, values], dim=2)
        return self.keys, self.values

    def crop(self, length: int) -> None:
        """Keep the first `length` positions (rejected drafts are dropped this way)."""
        if self.keys is not None:
            self.keys, self.values = self.keys[:, :, :length], self.values[:, :, :length]


# -- building blocks ------------------------------------------------------------------------------

class Bottleneck(nn.Module):
    """x + scale · up(GELU(down(LayerNorm(x))))."""

    def __init__(self, hidden_size: int, bottleneck: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size)
        self.down = nn.Linear(hidden_size, bottleneck)
        self.up = nn.Linear(bottleneck, hidden_size)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.up(F.gelu(self.down(self.norm(x))))


def rotary(x: torch.Tensor, start: int) -> torch.Tensor:
    """Rotary position embedding of x [B, heads, T, d] for positions start..start+T−1."""
    cos, sin = _rotary_angles(x.shape[-1], start, x.shape[2], x.dtype, x.device)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


@functools.lru_cache(maxsize=4096)
def _rotary_angles(d: int, start: int, length: int, dtype: torch.dtype, device: torch.device):
    """cos and sin [T, d/2] of the rotary angles; cached because a drafting head asks for the
    same few (start, length) pairs at every step, where rebuilding them cost a third of the step."""
    inverse = 1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.float32, device=device) / d))
    angles = torch.arange(start, start + length, dtype=torch.float32, device=device)[:, None] * inverse
    return angles.cos().to(dtype), angles.sin().to(dtype)


class CausalSelfAttention(nn.Module):
    def __init__(self, hidden_size: int, heads: int):
        super().__init__()
        if hidden_size % heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.out = nn.Linear(hidden_size, hidden_size)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        batch, length, hidden = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        start = cache.length if cache is not None else 0
        q, k = rotary(q, start), rotary(k, start)
        if cache is not None:
            k, v = cache.append(k, v)
        # new queries see every cached key and the new keys up to themselves (a single new query: all)
        mask = None if length == 1 else torch.ones(length, k.shape[2], dtype=torch.bool, device=x.device).tril(k.shape[2] - length)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(batch, length, hidden))


class FeedForward(nn.Module):
    def __init__(self, hidden_size: int, inner: int):
        super().__init__()
        self.up = nn.Linear(hidden_size, inner)
        self.down = nn.Linear(inner, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class CausalBlock(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then + ffn(norm(x))."""

    def __init__(self, hidden_size: int, heads: int, ffn: int):
        super().__init__()
        self.attn_norm = nn.LayerNorm(hidden_size)
        self.attn = CausalSelfAttention(hidden_size, heads)
        self.ffn_norm = nn.LayerNorm(hidden_size)
        self.ffn = FeedForward(hidden_size, ffn)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cache)
        return x + self.ffn(self.ffn_norm(x))


# -- per-position adapters (L1-L4) ----------------------------------------------------------------

class PerPositionAdapter(nn.Module):
    """h_egpt[t] → h_vl[t]. Subclasses define `body`; L4 is causal, the others pointwise."""

    name = ""
    causal = False

    def forward(self, h_egpt: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        return self.body(h_egpt)


class L1(PerPositionAdapter):
    name = "L1"

    def __init__(self, hidden_size: int, bottleneck: int | None = None):
        super().__init__()
        self.body = Bottleneck(hidden_size, bottleneck or hidden_size // 16)


class L2(PerPositionAdapter):
    name = "L2"

    def __init__(self, hidden_size: int, bottleneck: int | None = None, blocks: int = 3):
        super().__init__()
        width = bottleneck or hidden_size // 16
        self.body = nn.Sequential(*[Bottleneck(hidden_size, width) for _ in range(blocks)],
                                  nn.LayerNorm(hidden_size))


class L3(PerPositionAdapter):
    name = "L3"

    def __init__(self, hidden_size: int, bottleneck: int | None = None):
        super().__init__()
        self.body = nn.Sequential(Bottleneck(hidden_size, bottleneck or hidden_size // 4),
                                  nn.LayerNorm(hidden_size))


class L4(PerPositionAdapter):
    """Causal self-attention over the draft's states, an FFN, and an output projection."""

    name = "L4"
    causal = True

    def __init__(self, hidden_size: int, heads: int = 8, ffn: int | None = None):
        super().__init__()
        self.block = CausalBlock(hidden_size, heads, ffn or hidden_size // 2)
        self.norm = nn.LayerNorm(hidden_size)
        self.project = nn.Linear(hidden_size, hidden_size)

    def forward(self, h_egpt: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        return h_egpt + self.project(self.norm(self.block(h_egpt, cache)))


# -- next-state heads (L5, B1, L5F) ---------------------------------------------------------------

class NextStateHead(nn.Module):
    """A causal transformer predicting h_vl[t+1] at position t, plus an alignment output for
    h_vl[t] (the dual objective; `align=False` drops it).

    `forward(*streams)` returns (next_state, aligned); `aligned` is None without the alignment
    output. A drafter needs only `next_state(*streams)`, which skips the alignment output.
    """

    name = ""
    causal = True
    streams: tuple[str, ...] = ()

    def __init__(self, hidden_size: int, heads: int = 8, ffn: int | None = None, align: bool = True,
                 bottleneck: int | None = None):
        super().__init__()
        self.inp = nn.Linear(hidden_size, hidden_size)
        self.block = CausalBlock(hidden_size, heads, ffn or hidden_size // 2)
        self.norm = nn.LayerNorm(hidden_size)
        self.align = Bottleneck(hidden_size, bottleneck or hidden_size // 16) if align else None

    def inputs(self, egpt: torch.Tensor | None, vl: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """The head's arguments, in the order of `streams`, from the draft's stream (`egpt`) and the
        target's (`vl`); a stream the head does not read may be None."""
        given = {"egpt": egpt, "vl": vl}
        return tuple(given[stream] for stream in self.streams)

    def fuse(self, *streams: torch.Tensor) -> torch.Tensor:
        """The trunk's input from the head's streams (in the order of `streams`)."""
        (only,) = streams
        return only

    def next_state(self, *streams: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        return self.norm(self.block(self.inp(self.fuse(*streams)), cache))

    def forward(self, *streams: torch.Tensor, cache: KVCache | None = None):
        y = self.next_state(*streams, cache=cache)
        return y, (self.align(y) if self.align is not None else None)


class L5(NextStateHead):
    """Cross-modal EAGLE head: reads the draft's states only."""

    name, streams = "L5", ("egpt",)


class B1(NextStateHead):
    """The same-model EAGLE baseline: L5's architecture reading the target's own states."""

    name, streams = "B1", ("vl",)


class L5F(NextStateHead):
    """g = σ(W_g[e; v]); fused = v + g ⊙ W_e·e + (1 − g) ⊙ W_v·v, then the causal trunk.

    The target's stream also enters through a residual path, so the head can fall back to what
    B1 sees when the event stream carries nothing useful.
    """

    name, streams = "L5F", ("egpt", "vl")

    def __init__(self, hidden_size: int, **sizes):
        super().__init__(hidden_size, **sizes)
        self.from_egpt = nn.Linear(hidden_size, hidden_size)
        self.from_vl = nn.Linear(hidden_size, hidden_size)
        self.gate = nn.Linear(2 * hidden_size, hidden_size)

    def fuse(self, h_egpt: torch.Tensor, h_vl: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.gate(torch.cat([h_egpt, h_vl], dim=-1)))
        return h_vl + gate * self.from_egpt(h_egpt) + (1 - gate) * self.from_vl(h_vl)


# -- token-level adapter --------------------------------------------------------------------------

class TokenAdapter(nn.Module):
    """Draft tokens → a distribution over the target's vocabulary at the same position.

    A causal transformer over the draft's token sequence (4 layers, 512 wide, 8 heads in the
    seeds' setting: 45.5M parameters with 32000/32064-token vocabularies).
    """

    def __init__(self, draft_vocab: int, target_vocab: int, width: int = 512, layers: int = 4,
                 heads: int = 8, ffn: int | None = None):
        super().__init__()
        self.embed = nn.Embedding(draft_vocab, width)
        self.blocks = nn.ModuleList(CausalBlock(width, heads, ffn or 4 * width) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, target_vocab)

    def forward(self, draft_tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(draft_tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


# -- factory --------------------------------------------------------------------------------------

_CLASSES = {cls.name: cls for cls in (L1, L2, L3, L4, L5, B1, L5F)}


def create_adapter(name: str, hidden_size: int, **sizes) -> nn.Module:
    """Build adapter `name` (L1..L4, L5, B1, L5F) for hidden size H; `sizes` override defaults
    (bottleneck, blocks, heads, ffn, align)."""
    if name not in _CLASSES:
        raise ValueError(f"unknown adapter {name!r}; choose one of {', '.join(ADAPTERS)}")
    if hidden_size < 16:
        raise ValueError(f"hidden_size must be at least 16, got {hidden_size}")
    return _CLASSES[name](hidden_size, **sizes)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def default_heads(hidden_size: int) -> int:
    """The largest of 8, 4, 2, 1 that divides the hidden size, with head width ≥ 16."""
    for heads in (8, 4, 2, 1):
        if hidden_size % heads == 0 and hidden_size // heads >= 16:
            return heads
    return 1


__all__ = [
    "ADAPTERS", "PER_POSITION", "NEXT_STATE", "KVCache", "create_adapter", "parameter_count",
    "TokenAdapter", "default_heads",
]
