"""Names of the decoding methods (kept free of heavy imports for the command line)."""

METHODS = ("ar", "ar-loop", "prompt-lookup", "b1", "l5f", "two-phase")
NEEDS_WORKER = ("l5f", "two-phase")
PREFILL_ADAPTERS = ("L1", "L2", "L3", "L4")
# when L5F needs an event state the draft VLM has not made yet: "wait" for it; "degrade" to a zero
# row (what L5F saw in training past the end of the draft's answer); "prefill-only": degrade, and
# stop the draft VLM once the target's prefill ends, so it never competes with the decode phase;
# "pause-verify": wait, but pause the draft VLM during each verify forward, so it competes with the
# target's prefill and the heads' steps only (on a shared GPU, verify forwards slow most beside it)
POLICIES = ("wait", "degrade", "prefill-only", "pause-verify")
