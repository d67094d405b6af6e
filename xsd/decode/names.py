"""Names of the decoding methods (kept free of heavy imports for the command line)."""

METHODS = ("ar", "ar-loop", "prompt-lookup", "b1", "l5f", "two-phase")
NEEDS_WORKER = ("l5f", "two-phase")
PREFILL_ADAPTERS = ("L1", "L2", "L3", "L4")
