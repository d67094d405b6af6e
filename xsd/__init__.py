"""xsd: cross-modal speculative decoding (EventGPT drafts for Video-LLaVA), reproducibly."""

__version__ = "0.1.0"
