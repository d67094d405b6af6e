"""The regime tables: this run's five quantities beside the previous recipe's record and the seeds'."""
import pytest

from xsd.config import load_profile
from xsd.studies import regime


def model_inputs(target=0.9, draft=0.5, tokens=13.2, ratio=5.0):
    accuracy = {"target": {"mean": target}, "draft": {"mean": draft}}
    return accuracy, {"prefill_ratio_with_vision": ratio}, {"target": tokens, "draft": 9.0}


def test_the_model_table_puts_this_run_beside_the_record_and_the_seeds():
    table = regime.model_regime(load_profile("smoke"), *model_inputs())
    assert list(table.columns) == ["smoke (this run)", "mini, previous recipe (recorded)", "seeds"]
    assert table.loc["target accuracy", "smoke (this run)"] == 0.9
    assert table.loc["prefill ratio", "mini, previous recipe (recorded)"] == regime.PREVIOUS_RECIPE["prefill ratio"]
    assert table.loc["prefill ratio", "seeds"] == pytest.approx(470 / 97, rel=0.2)
    assert table.loc["target answer tokens", "seeds"] == "50-token window"


def test_the_adapter_table_reads_l1_cosine_and_b1_shifted_top1():
    results = [{"adapter": "L1", "cos_mean": 0.6}, {"adapter": "B1", "shifted_top1": 0.5, "cos_mean": 0.9}]
    table = regime.adapter_regime(load_profile("smoke"), results)
    assert table.loc["L1 cosine"].tolist()[:2] == [0.6, regime.PREVIOUS_RECIPE["L1 cosine"]]
    assert table.loc["B1 shifted top-1", "seeds"] == pytest.approx(0.41, abs=0.01)


def test_the_lines_say_which_way_each_quantity_moved():
    before = regime.PREVIOUS_RECIPE
    table = regime.model_regime(load_profile("mini"), *model_inputs(
        target=before["target accuracy"] * 1.5, draft=before["draft accuracy"] * 0.5,
        tokens=before["target answer tokens"] * 1.05))
    lines = dict(line.split(":", 1) for line in regime.regime_lines(load_profile("mini"), table))
    assert "up from" in lines["target accuracy"] and "down from" in lines["draft accuracy"]
    assert "about level with" in lines["target answer tokens"]
    assert f"{before['target accuracy'] * 1.5:.1%}" in lines["target accuracy"]
    other = regime.regime_lines(load_profile("smoke"), table)
    assert len(other) == 1 and "does not compare" in other[0]


def test_the_lines_read_the_unrounded_numbers_the_table_shows_rounded():
    table = regime.model_regime(load_profile("mini"), *model_inputs(target=137 / 400))
    assert regime.shown(table).loc["target accuracy", "mini (this run)"] == 0.343
    line = next(x for x in regime.regime_lines(load_profile("mini"), table) if x.startswith("target accuracy"))
    assert f"{137 / 400:.1%}" in line
