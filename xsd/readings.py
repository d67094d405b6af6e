"""Words for the notebooks' readings, chosen by the values of the run.

A study's reading must never contradict the table above it, so every sentence that states a
comparison, a trend, a cause or a verdict is built from the run's values with these helpers: each
turns numbers into words by a threshold stated here (and in the sentence's own wording), never by
what a run was expected to give.

- `agree(a, b, tolerance)`: |a − b| ≤ tolerance.
- `agrees_at_precision(value, stated)`: the value, printed with as many decimals as `stated` was,
  reads as `stated` ("agrees to the printed precision"); 26.17 does not agree with 26.1, 1.386
  agrees with 1.39. `off_at_precision({name: (stated, value)})` lists the ones that do not.
- `ratio_phrase(value, reference)`: "about as high" within ±10 %, else "N times as high", with
  "an order of magnitude higher / lower" from a factor of 10 on.
- `c_phrase(c)`: "close to 1" only when |c − 1| < 0.15, otherwise which model is faster per token.
- `speedup_phrase(s)`: faster or slower than decoding with the target alone.
- `lead_phrase(a, b, tolerance)`: "ahead of" / "behind" / "level with" by a − b beyond an absolute
  tolerance (the words can change: "above" / "below" / "at").
- `count_phrase(k, n)`, `join(items)`: "four of the six", "a, b and c".
- `show(*paragraphs)`: display the paragraphs as Markdown in a notebook (printed outside one).
"""
from __future__ import annotations

import math
from decimal import Decimal

SAME_WITHIN = 0.10     # ratio_phrase: |value / reference − 1| ≤ 10 % reads "about as high"
C_NEAR_ONE = 0.15      # c_phrase: |c − 1| < 0.15 reads "close to 1"

_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "ten", "eleven", "twelve"]


def number_word(n: int) -> str:
    """0–12 as words, larger numbers as digits."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def agree(a: float, b: float, tolerance: float) -> bool:
    """Whether a and b differ by at most `tolerance` (absolute)."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be at least 0, not {tolerance}")
    return abs(a - b) <= tolerance


def decimals_of(stated) -> int:
    """The number of decimals a reported figure was printed with: 26.0 -> 1, 1.54 -> 2, 7 -> 0."""
    if isinstance(stated, bool) or not isinstance(stated, (int, float, str, Decimal)):
        raise TypeError(f"not a printed number: {stated!r}")
    exponent = Decimal(str(stated)).as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def at_precision(value: float, decimals: int) -> str:
    """`value` printed with `decimals` decimals (round half to even, as Python prints)."""
    return f"{value:.{decimals}f}"


def agrees_at_precision(value: float, stated, decimals: int | None = None) -> bool:
    """Whether `value`, printed with the decimals `stated` was printed with, reads as `stated`."""
    decimals = decimals_of(stated) if decimals is None else decimals
    return at_precision(value, decimals) == at_precision(float(stated), decimals)


def off_at_precision(pairs: dict) -> list[tuple]:
    """The entries of {name: (stated, value)} whose value does not print as the stated figure, as
    (name, stated, value) in the dict's order; the rest agree to the printed precision."""
    return [(name, stated, value) for name, (stated, value) in pairs.items()
            if not agrees_at_precision(value, stated)]


def _times(ratio: float) -> str:
    if ratio >= 10:
        return f"{ratio:.0f}"
    if ratio >= 1:
        return f"{ratio:.1f}"
    if ratio >= 0.1:
        return f"{ratio:.2f}"
    return f"{ratio:.2g}"


def _orders(factor: float) -> str | None:
    """'an order of magnitude', 'two orders of magnitude', ... for factor ≥ 10; None below."""
    if factor < 10:
        return None
    k = int(math.floor(math.log10(factor) + 1e-12))
    return "an order of magnitude" if k == 1 else f"{number_word(k)} orders of magnitude"


def ratio_phrase(value: float, reference: float, *, tolerance: float = SAME_WITHIN, size: str = "high",
                 more: str = "higher", less: str = "lower") -> str:
    """How `value` compares with a positive `reference`, in words.

    "about as high" when |value / reference − 1| ≤ tolerance; otherwise "N times as high", and
    from a factor of 10 on "N times as high, an order of magnitude higher" (or lower); "zero times
    as high" for a value of 0. Every phrase ends in "as high", ready for " as <the reference>".
    `size`, `more` and `less` change the adjective ("long", "longer", "shorter")."""
    if reference <= 0:
        raise ValueError(f"the reference must be positive, not {reference}")
    if value < 0:
        raise ValueError(f"the value must not be negative, not {value}")
    if value == 0:
        return f"zero times as {size}"
    ratio = value / reference
    if abs(ratio - 1) <= tolerance:
        return f"about as {size}"
    phrase = f"{_times(ratio)} times as {size}"
    orders = _orders(ratio if ratio > 1 else 1 / ratio)
    if orders is not None:
        phrase += f", {orders} {more if ratio > 1 else less}"
    return phrase


def c_phrase(c: float, tolerance: float = C_NEAR_ONE) -> str:
    """The speed ratio c = T_draft / T_target in words: close to 1 only when |c − 1| < tolerance."""
    if c <= 0:
        raise ValueError(f"c must be positive, not {c}")
    if abs(c - 1) < tolerance:
        return (f"c = {c:.2f} is close to 1 (within ±{tolerance:g}): a draft step costs about as much "
                f"as a target step")
    if c > 1:
        return f"c = {c:.2f}: the draft is slower per token than the target"
    return f"c = {c:.2f}: the draft is faster per token than the target (a draft step costs {c:.0%} of a target step)"


def speedup_phrase(speedup: float) -> str:
    """'faster than' / 'slower than' / 'as fast as' decoding with the target alone (at 3 decimals)."""
    if round(speedup, 3) > 1:
        return "faster than decoding with the target alone"
    if round(speedup, 3) < 1:
        return "slower than decoding with the target alone"
    return "as fast as decoding with the target alone"


def lead_phrase(value: float, reference: float, tolerance: float, *, ahead: str = "ahead of",
                behind: str = "behind", level: str = "level with") -> str:
    """`ahead` when value − reference > tolerance, `behind` when reference − value > tolerance,
    otherwise `level` (|value − reference| ≤ tolerance, as `agree`)."""
    if agree(value, reference, tolerance):
        return level
    return ahead if value > reference else behind


def count_phrase(k: int, n: int, noun: str = "", plural: str | None = None) -> str:
    """'all six', 'none of the six', 'four of the six', 'both', 'neither', 'one of the two'; with a
    noun: 'all six question types', 'neither question type', 'no question type' (n = 1), ..."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 ≤ k ≤ n, not k = {k}, n = {n}")
    plural = plural if plural is not None else (noun + "s" if noun else "")
    many = f" {plural}" if plural else ""
    one = f" {noun}" if noun else ""
    if n == 1:
        if noun:
            return f"the one{one}" if k == 1 else f"no{one}"
        return "the only one" if k == 1 else "none"
    if k == n:
        return f"both{many}" if n == 2 else f"all {number_word(n)}{many}"
    if k == 0:
        return f"neither{one}" if n == 2 else f"none of the {number_word(n)}{many}"
    return f"{number_word(k)} of the {number_word(n)}{many}"


def join(items) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [str(item) for item in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def show(*paragraphs: str) -> None:
    """Display the paragraphs as one Markdown output (inside a notebook), or print them."""
    text = "\n\n".join(p for p in paragraphs if p)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))


__all__ = ["SAME_WITHIN", "C_NEAR_ONE", "number_word", "agree", "decimals_of", "at_precision",
           "agrees_at_precision", "off_at_precision", "ratio_phrase", "c_phrase", "speedup_phrase", "lead_phrase",
           "count_phrase", "join", "show"]
