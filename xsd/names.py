"""The names the command line offers (adapters, decoding methods, policies), free of heavy imports
so that `xsd --help` stays instant; the modules that implement them import them from here."""

PER_POSITION = ("L1", "L2", "L3", "L4")  # adapters mapping h_egpt[t] to h_vl[t]
NEXT_STATE = ("L5", "B1", "L5F")          # heads predicting h_vl[t+1]
ADAPTERS = PER_POSITION + NEXT_STATE

METHODS = ("ar", "ar-loop", "prompt-lookup", "b1", "l5f", "two-phase")
NEEDS_WORKER = ("l5f", "two-phase")
# when L5F needs an event state the draft VLM has not made yet: "wait" for it; "degrade" to a zero
# row (what L5F saw in training past the end of the draft's answer); "prefill-only": degrade, and
# stop the draft VLM once the target's prefill ends, so it never competes with the decode phase;
# "pause-verify": wait, but pause the draft VLM during each verify forward, so it competes with the
# target's prefill and the heads' steps only (on a shared GPU, verify forwards slow most beside it)
POLICIES = ("wait", "degrade", "prefill-only", "pause-verify")
