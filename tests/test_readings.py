import pytest

from xsd import readings


def test_agree_is_an_absolute_tolerance():
    assert readings.agree(1.0, 1.04, 0.05)
    assert not readings.agree(1.0, 1.06, 0.05)
    assert readings.agree(2.0, 2.0, 0.0)
    with pytest.raises(ValueError):
        readings.agree(1.0, 1.0, -0.1)


@pytest.mark.parametrize("stated, decimals", [(26.0, 1), (1.54, 2), (7, 0), ("0.24", 2), (0.5164, 4), (1.5, 1)])
def test_decimals_of_a_printed_figure(stated, decimals):
    assert readings.decimals_of(stated) == decimals


@pytest.mark.parametrize("value, stated, agrees", [
    (26.17, 26.1, False),    # the speed-ratio study's L2+L5F iterations: prints as 26.2
    (26.098, 26.0, False),   # L3+L5F: prints as 26.1
    (26.694, 26.7, True),
    (1.3863, 1.39, True),
    (0.2454, 0.24, False),   # the seeds' classic-SD speedup: 0.25 at their precision
    (1.533, 1.54, False),
    (1.558, 1.56, True),
    (5.65, 5.65, True),
    (4.0, 4, True),
])
def test_agrees_at_precision(value, stated, agrees):
    assert readings.agrees_at_precision(value, stated) is agrees


def test_agrees_at_precision_with_explicit_decimals():
    assert readings.agrees_at_precision(0.2454, 0.24, decimals=1)
    assert not readings.agrees_at_precision(0.2454, 0.24, decimals=3)


def test_off_at_precision_lists_the_figures_that_print_differently():
    pairs = {"L1+L5F": (1.54, 1.5331), "L3+L5F": (1.56, 1.5578), "L2+L5F": (1.56, 1.5543), "L5F-only": (1.45, 1.4500)}
    assert readings.off_at_precision(pairs) == [("L1+L5F", 1.54, 1.5331), ("L2+L5F", 1.56, 1.5543)]
    assert readings.off_at_precision({}) == []


@pytest.mark.parametrize("value, reference, phrase", [
    (1.0, 1.0, "about as high"),
    (1.09, 1.0, "about as high"),
    (0.91, 1.0, "about as high"),
    (1.5, 1.0, "1.5 times as high"),
    (0.5, 1.0, "0.50 times as high"),
    (0.19, 0.0158, "12 times as high, an order of magnitude higher"),
    (2.0, 0.01, "200 times as high, two orders of magnitude higher"),
    (0.001, 0.0158, "0.063 times as high, an order of magnitude lower"),
    (0.0, 0.0158, "zero times as high"),
])
def test_ratio_phrase(value, reference, phrase):
    assert readings.ratio_phrase(value, reference) == phrase


def test_ratio_phrase_threshold_and_words_can_change():
    assert readings.ratio_phrase(1.2, 1.0, tolerance=0.25) == "about as high"
    assert readings.ratio_phrase(0.95, 1.0, size="many") == "about as many"
    assert readings.ratio_phrase(30.0, 2.0, size="long", more="longer") == "15 times as long, an order of magnitude longer"
    with pytest.raises(ValueError):
        readings.ratio_phrase(1.0, 0.0)
    with pytest.raises(ValueError):
        readings.ratio_phrase(-1.0, 1.0)


def test_c_phrase_says_close_to_1_only_within_the_tolerance():
    assert "close to 1" in readings.c_phrase(0.93)
    assert "close to 1" in readings.c_phrase(1.14)
    cold = readings.c_phrase(1.35)
    assert "close to 1" not in cold and "slower per token" in cold and "1.35" in cold
    smoke = readings.c_phrase(0.76)
    assert "close to 1" not in smoke and "faster per token" in smoke and "76%" in smoke
    assert "close to 1" not in readings.c_phrase(0.85)  # |c − 1| < 0.15 is strict
    assert "close to 1" in readings.c_phrase(1.3, tolerance=0.5)
    with pytest.raises(ValueError):
        readings.c_phrase(0.0)


def test_speedup_phrase():
    assert readings.speedup_phrase(0.623).startswith("slower")
    assert readings.speedup_phrase(1.2).startswith("faster")
    assert readings.speedup_phrase(1.0004).startswith("as fast")


@pytest.mark.parametrize("k, n, phrase", [
    (6, 6, "all six"), (0, 6, "none of the six"), (4, 6, "four of the six"), (2, 2, "both"),
    (0, 2, "neither"), (1, 2, "one of the two"), (1, 1, "the only one"), (0, 1, "none"), (3, 20, "three of the 20"),
])
def test_count_phrase(k, n, phrase):
    assert readings.count_phrase(k, n) == phrase


@pytest.mark.parametrize("k, n, phrase", [
    (6, 6, "all six question types"), (0, 6, "none of the six question types"), (2, 2, "both question types"),
    (0, 2, "neither question type"), (1, 2, "one of the two question types"), (1, 1, "the one question type"),
    (0, 1, "no question type"),
])
def test_count_phrase_with_a_noun(k, n, phrase):
    assert readings.count_phrase(k, n, "question type") == phrase
    assert readings.count_phrase(2, 3, "analysis", plural="analyses") == "two of the three analyses"


def test_count_phrase_rejects_impossible_counts():
    with pytest.raises(ValueError):
        readings.count_phrase(7, 6)


def test_join():
    assert readings.join([]) == ""
    assert readings.join(["a"]) == "a"
    assert readings.join(["a", "b"]) == "a and b"
    assert readings.join(["a", "b", "c"]) == "a, b and c"


def test_show_prints_outside_a_notebook(capsys):
    readings.show("one", "", "two")
    assert capsys.readouterr().out == "one\n\ntwo\n"


def test_lead_phrase_reads_level_within_the_tolerance():
    assert readings.lead_phrase(0.30, 0.25, 0.01) == "ahead of"
    assert readings.lead_phrase(0.25, 0.30, 0.01) == "behind"
    assert readings.lead_phrase(0.255, 0.25, 0.01) == "level with"
    assert readings.lead_phrase(1.5, 1.0, 0.5) == "level with"  # the tolerance is inclusive, as agree's
    assert readings.lead_phrase(0.0, 0.0, 0.0) == "level with"
    words = {"ahead": "above", "behind": "below", "level": "at"}
    assert readings.lead_phrase(1.2, 1.0, 0.05, **words) == "above"
    assert readings.lead_phrase(0.9, 1.0, 0.05, **words) == "below"
    with pytest.raises(ValueError):
        readings.lead_phrase(1.0, 1.0, -0.1)
