"""The two VLMs: an EventGPT-architecture draft and a Video-LLaVA target."""
