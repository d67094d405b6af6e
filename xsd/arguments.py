"""The allowed range of every number a user gives: command-line arguments, profile settings and
the decoder's inputs share one set of rules.

`Limit` is a range. The argparse `type=` functions below (`positive_int`, `non_negative_float`,
...) parse an argument and check it against its limit, so a value out of range is a usage error
naming the argument and the range (exit code 2). `xsd.config` checks a profile's values against
the same limits, and `check_decoding` is what `Decoder.run` and `speculative_generate` call, so
an API user meets the same rule as the command line: max_new_tokens ≥ 1 (0 is an error, not
"the default"), temperature ≥ 0 (0 is greedy, for every method), γ ≥ 1.

Light to import (no torch, no numpy): the command modules use it while building the parser.
"""
from __future__ import annotations

import argparse
import math
import numbers
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """Numbers from `low` to `high` (None: unbounded); `*_open` leaves that end out."""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def allows(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return (f"in {'(' if self.low_open else '['}{_number(self.low)}, "
                    f"{_number(self.high)}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{'>' if self.low_open else '≥'} {_number(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '≤'} {_number(self.high)}"
        return "a finite number"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


AT_LEAST_ONE = Limit(1)                       # counts, sizes, steps, batches, threads
NON_NEGATIVE = Limit(0)                       # 0 means none (or, where documented, all)
POSITIVE = Limit(0, low_open=True)            # rates, learning rates, thresholds
OPEN_FRACTION = Limit(0, 1, low_open=True, high_open=True)   # a share that leaves both sides non-empty
FRACTION = Limit(0, 1)                        # a probability or weight


def problem(value, limit: Limit, integer: bool = False) -> str | None:
    """Why `value` breaks `limit` ("must be an integer ≥ 1, found 0"), or None when it is fine."""
    if integer and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        return f"must be an integer {limit}, found {value!r}"
    if not limit.allows(value):
        return f"must be {'an integer ' if integer else ''}{limit}, found {value!r}"
    return None


def check(name: str, value, limit: Limit, integer: bool = False) -> None:
    """ValueError naming `name` and the range when `value` is out of it."""
    message = problem(value, limit, integer)
    if message:
        raise ValueError(f"{name} {message}")


def check_decoding(max_new_tokens, temperature, gamma=None) -> None:
    """The decoder's inputs, as every method reads them: ValueError when one is out of range."""
    check("max_new_tokens", max_new_tokens, AT_LEAST_ONE, integer=True)
    check("temperature", temperature, NON_NEGATIVE)
    if gamma is not None:
        check("gamma (draft tokens per round)", gamma, AT_LEAST_ONE, integer=True)


# -- argparse types -------------------------------------------------------------------------------

def _argument_type(kind, limit: Limit, name: str):
    what = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} {limit}, not {text!r}") from None
        if not limit.allows(value):
            finite = "" if math.isfinite(value) else "a finite number "
            raise argparse.ArgumentTypeError(f"must be {finite}{limit}, not {text}")
        return value

    parse.__name__ = name
    return parse


positive_int = _argument_type(int, AT_LEAST_ONE, "positive_int")               # ≥ 1
non_negative_int = _argument_type(int, NON_NEGATIVE, "non_negative_int")       # ≥ 0
non_negative_float = _argument_type(float, NON_NEGATIVE, "non_negative_float")  # ≥ 0, finite
fraction = _argument_type(float, FRACTION, "fraction")                          # in [0, 1]


__all__ = ["Limit", "AT_LEAST_ONE", "NON_NEGATIVE", "POSITIVE", "OPEN_FRACTION", "FRACTION", "problem", "check",
           "check_decoding", "positive_int", "non_negative_int", "non_negative_float", "fraction"]
