"""The live decoder: one verification loop shared by every drafting strategy (the book's methods page, §5).

    loop.py          the verification loop (greedy: exact; sampling: rejection sampling)
    target.py        the target model as the loop drives it (prefill, forward, crop)
    drafters.py      head drafting (B1, L5F), phase-1 candidates, prompt lookup
    draft_worker.py  the draft VLM in its own process, publishing its states
    methods.py       the methods of the live study, on loaded models and heads
    static_target.py the target over a static KV cache (CUDA graphs on a GPU)

The package takes loaded objects (models, heads, a profile's settings) and never builds or
trains anything: `xsd.pipeline.ensure_decoder` loads a profile's decoder, and the wall-clock
benchmark is a study (`xsd.studies.live_wallclock`).
"""
_EXPORTS = {
    "DecodeResult": "loop", "DecodeStats": "loop", "Proposal": "loop", "speculative_generate": "loop",
    "verify": "loop", "Target": "target", "EgptFeed": "drafters", "HeadDrafter": "drafters",
    "PrefillCandidates": "drafters", "PromptLookupDrafter": "drafters", "TwoPhaseDrafter": "drafters",
}


def __getattr__(name):  # imported on first use, so `xsd --help` never loads torch
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"xsd.decode.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'xsd.decode' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
