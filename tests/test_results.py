import json

from xsd.config import load_profile
from xsd.results import cached_json


def test_cached_results_are_computed_once_per_key(tmp_path, monkeypatch):
    monkeypatch.setenv("XSD_CACHE", str(tmp_path))
    profile = load_profile("smoke")
    calls = []

    def compute():
        calls.append(1)
        return {"costs": {1: 0.5}, "value": len(calls)}

    first = cached_json(profile, "thing", {"a": 1}, compute)
    again = cached_json(profile, "thing", {"a": 1}, compute)
    other = cached_json(profile, "thing", {"a": 2}, compute)
    assert first == again == {"costs": {"1": 0.5}, "value": 1}  # what is returned is what is stored
    assert other["value"] == 2 and len(calls) == 2
    refreshed = cached_json(profile, "thing", {"a": 1}, compute, refresh=True)
    assert refreshed["value"] == 3
    files = sorted(p.name for p in (tmp_path / "results" / "smoke").iterdir())
    assert len(files) == 2 and all(f.startswith("thing-") and f.endswith(".json") for f in files)
    assert json.loads((tmp_path / "results" / "smoke" / files[0]).read_text())["costs"]


def test_the_speed_ratio_study_takes_c_from_the_stage_benchmark(monkeypatch):
    from xsd import book, results

    monkeypatch.setattr(results, "measured_c", lambda profile: (0.8765432, "test models"))
    assert book.study_parameters("speed_ratio", "smoke") == {"measured_c": 0.8765, "measured_c_source": "test models"}
    assert book.study_parameters("world_models", "smoke") == {}
