import json

from xsd.cache import cached_json


def test_cached_results_are_computed_once_per_file(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"costs": {1: 0.5}, "value": len(calls)}

    first = cached_json(tmp_path / "results" / "thing-a.json", compute)
    again = cached_json(tmp_path / "results" / "thing-a.json", compute)
    other = cached_json(tmp_path / "results" / "thing-b.json", compute)
    assert first == again == {"costs": {"1": 0.5}, "value": 1}  # what is returned is what is stored
    assert other["value"] == 2 and len(calls) == 2
    refreshed = cached_json(tmp_path / "results" / "thing-a.json", compute, refresh=True)
    assert refreshed["value"] == 3
    files = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert files == ["thing-a.json", "thing-b.json"]  # no temporary file left behind
    assert json.loads((tmp_path / "results" / files[0]).read_text())["value"] == 3


def test_a_cached_result_that_is_not_valid_is_computed_again(tmp_path):
    path = tmp_path / "thing.json"
    cached_json(path, lambda: {"old": 1})
    assert cached_json(path, lambda: {"new": 2}, valid=lambda cached: "new" in cached) == {"new": 2}
    assert cached_json(path, lambda: {"newer": 3}, valid=lambda cached: "new" in cached) == {"new": 2}


def test_the_speed_ratio_study_takes_c_from_the_stage_benchmark(monkeypatch):
    from xsd import book
    from xsd.studies import stage_timings

    monkeypatch.setattr(stage_timings, "measured_c", lambda profile: (0.8765432, "test models"))
    assert book.study_parameters("speed_ratio", "smoke") == {"measured_c": 0.8765, "measured_c_source": "test models"}
    assert book.study_parameters("world_models", "smoke") == {}
