"""The target model as the decoder sees it: a prefill, then forwards over a few new tokens.

Works for any Hugging Face model with a decoder `model.model` returning `last_hidden_state`
(post-norm, what the LM head reads) and an output embedding: LlamaForCausalLM,
LlavaForConditionalGeneration and VideoLlavaForConditionalGeneration alike, on whatever device
the model lives: new token ids are made there, and `now()` reads the clock after the device has
finished its queued work, so every time the decoder records is the device's, not its launch's.
"""
from __future__ import annotations

import torch
from transformers import DynamicCache

from xsd.device import model_device, now


class Target:
    def __init__(self, model):
        self.model = model.eval()
        self.base = model.model
        # after the prefill only text tokens follow, so the language model is called directly:
        # the same computation without the VLM wrapper's per-call checks
        self.decoder = getattr(self.base, "language_model", self.base)
        self.lm_head = model.get_output_embeddings()
        self.device = model_device(model)

    def now(self) -> float:
        """The clock, read once the device has run everything queued so far."""
        return now(self.device)

    @torch.no_grad()
    def prefill(self, inputs: dict) -> tuple[torch.Tensor, torch.Tensor, DynamicCache]:
        """Run the prompt (and its vision inputs); returns the last position's logits [V],
        its hidden state [H] and the KV cache."""
        cache = DynamicCache()
        out = self.base(**inputs, past_key_values=cache, use_cache=True)
        hidden = out.last_hidden_state[0, -1]
        return self.lm_head(hidden), hidden, cache

    @torch.no_grad()
    def forward(self, tokens: list[int], cache: DynamicCache) -> tuple[torch.Tensor, torch.Tensor]:
        """Feed `tokens` after the cache; logits [k, V] and hidden states [k, H] at each."""
        ids = torch.tensor([tokens], dtype=torch.long, device=self.device)
        hidden = self.decoder(input_ids=ids, past_key_values=cache, use_cache=True).last_hidden_state[0]
        return self.lm_head(hidden), hidden

    @staticmethod
    def crop(cache: DynamicCache, length: int) -> None:
        """Keep the first `length` positions of the cache."""
        extra = cache.get_seq_length() - length
        if extra > 0:
            cache.crop(-extra)
