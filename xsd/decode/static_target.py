"""The target's decode steps over a static KV cache, replayed as CUDA graphs (gpt-fast's approach).

A 7B decode step in eager transformers is bound by Python and kernel launches, not by the GPU:
the weights and the KV cache take a few milliseconds to read at the GPU's bandwidth, while the
eager step costs several times that. `StaticTarget` keeps the `Target` interface (prefill,
forward over k new tokens, crop) but runs the steps after the prefill itself:

- the KV cache is one preallocated tensor per layer and side, [1, kv_heads, max_length, head_dim];
  a step writes its k new keys and values at their positions (`index_copy_`) and attends over the
  whole buffer with a mask that admits positions ≤ each query's, so every step has static shapes;
- on a GPU, the step for each query length k (1 for a decode step, γ + 1 for a verify forward) is
  captured once as a CUDA graph and replayed, so one launch runs the whole forward and LM head;
  on the CPU there are no graphs and the same static step runs eagerly.

The layers' own modules (norms, projections, rotary embedding, MLP) compute the step, so only the
cache and the attention call differ from transformers' Llama; tests check the logits against the
eager `Target`. The prefill (vision tower and prompt) runs through the model as in `Target`, and
its cache is copied into the static buffers. Cropping only moves the length: positions past it
are masked, and each step writes its positions before it reads them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from xsd.decode.target import Target


class StaticCache:
    """Preallocated keys and values of every layer, and how many positions hold the sequence."""

    def __init__(self, layers: int, kv_heads: int, head_dim: int, max_length: int, dtype, device):
        shape = (1, kv_heads, max_length, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.length = 0
        self.max_length = max_length

    def get_seq_length(self) -> int:
        return self.length

    def crop(self, max_length: int) -> None:
        """As transformers' caches: keep `max_length` positions, or drop -max_length if negative."""
        self.length = max(self.length + max_length, 0) if max_length < 0 else min(self.length, max_length)

    def load(self, cache) -> None:
        """Copy a prefill's transformers cache into the buffers."""
        length = cache.get_seq_length()
        if length > self.max_length:
            raise ValueError(f"the prompt has {length} tokens, more than the static cache's {self.max_length}")
        for layer, (keys, values) in enumerate(_layers_of(cache)):
            self.keys[layer][:, :, :length] = keys
            self.values[layer][:, :, :length] = values
        self.length = length


def _layers_of(cache):
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


class StaticTarget(Target):
    """`Target` with its decode and verify forwards over a static cache (CUDA graphs on a GPU)."""

    def __init__(self, model, max_length: int, max_k: int = 8, graphs: bool | None = None):
        super().__init__(model)
        config = self.decoder.config
        self.max_length, self.max_k = max_length, max_k
        self.heads = config.num_attention_heads
        self.kv_heads = getattr(config, "num_key_value_heads", None) or self.heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.dtype = self.lm_head.weight.dtype
        self.graphs_enabled = self.device.type == "cuda" if graphs is None else graphs
        self.cache = StaticCache(len(self.decoder.layers), self.kv_heads, self.head_dim, max_length,
                                 self.dtype, self.device)
        self.slots = torch.arange(max_length, device=self.device)
        self.graphs: dict[int, tuple] = {}
        if self.graphs_enabled:
            for k in range(1, max_k + 1):
                self.graphs[k] = self._capture(k)

    @torch.no_grad()
    def prefill(self, inputs: dict):
        logits, hidden, cache = super().prefill(inputs)
        self.cache.load(cache)
        return logits, hidden, self.cache

    @torch.no_grad()
    def forward(self, tokens: list[int], cache: StaticCache):
        k, start = len(tokens), cache.length
        if start + k > cache.max_length:
            raise ValueError(f"the static cache holds {cache.max_length} positions; {start + k} needed")
        ids = torch.tensor([tokens], dtype=torch.long, device=self.device)
        positions = torch.arange(start, start + k, device=self.device)[None]
        if k in self.graphs:
            graph, static_ids, static_positions, outputs = self.graphs[k]
            static_ids.copy_(ids)
            static_positions.copy_(positions)
            graph.replay()
            logits, hidden = (t.clone() for t in outputs)
        else:
            logits, hidden = self._step(ids, positions)
        cache.length = start + k
        return logits, hidden

    def _step(self, ids: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward over ids [1, k] at positions [1, k]: logits [k, V] and states [k, H]."""
        x = self.decoder.embed_tokens(ids)
        cos, sin = self.decoder.rotary_emb(x, positions)
        visible = (self.slots[None, :] <= positions[0][:, None])[None, None]  # [1, 1, k, max_length]
        for index, layer in enumerate(self.decoder.layers):
            x = x + self._attention(layer.self_attn, layer.input_layernorm(x), cos, sin, positions[0], visible, index)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        hidden = self.decoder.norm(x)[0]
        return self.lm_head(hidden), hidden

    def _attention(self, attention, x, cos, sin, positions, visible, layer: int) -> torch.Tensor:
        k = x.shape[1]
        query = attention.q_proj(x).view(1, k, self.heads, self.head_dim).transpose(1, 2)
        key = attention.k_proj(x).view(1, k, self.kv_heads, self.head_dim).transpose(1, 2)
        value = attention.v_proj(x).view(1, k, self.kv_heads, self.head_dim).transpose(1, 2)
        query, key = apply_rotary_pos_emb(query, key, cos, sin)
        keys, values = self.cache.keys[layer], self.cache.values[layer]
        keys.index_copy_(2, positions, key)
        values.index_copy_(2, positions, value)
        out = F.scaled_dot_product_attention(query, keys, values, attn_mask=visible,
                                             enable_gqa=self.kv_heads != self.heads)
        return attention.o_proj(out.transpose(1, 2).reshape(1, k, -1))

    def _capture(self, k: int):
        """The step for k new tokens as a CUDA graph over static input and output tensors. The
        warm-up and capture write garbage at the cache's last k positions, which stay masked
        until a real step overwrites them before reading them."""
        static_ids = torch.zeros(1, k, dtype=torch.long, device=self.device)
        static_positions = torch.arange(self.max_length - k, self.max_length, device=self.device)[None]
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.no_grad(), torch.cuda.stream(stream):
            for _ in range(2):
                self._step(static_ids, static_positions)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(graph):
            outputs = self._step(static_ids, static_positions)
        return graph, static_ids, static_positions, outputs
