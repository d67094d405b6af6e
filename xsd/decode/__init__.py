"""The live decoder: one verification loop shared by every drafting strategy (DESIGN.md §3.5)."""
from xsd.decode.drafters import EgptFeed, HeadDrafter, PrefillCandidates, TwoPhaseDrafter
from xsd.decode.loop import DecodeResult, DecodeStats, Proposal, speculative_generate, verify
from xsd.decode.target import Target

__all__ = [
    "DecodeResult", "DecodeStats", "EgptFeed", "HeadDrafter", "PrefillCandidates", "Proposal", "Target",
    "TwoPhaseDrafter", "speculative_generate", "verify",
]
