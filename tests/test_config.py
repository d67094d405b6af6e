import dataclasses
from pathlib import Path

import pytest

from xsd import paths
from xsd.config import ProfileError, available_profiles, fingerprint, load_profile
from xsd.models.config import per_side


def test_the_three_profiles_load():
    assert {"mini", "smoke", "full"} <= set(available_profiles())
    mini, smoke = load_profile("mini"), load_profile("smoke")
    assert mini.name == "mini" and smoke.name == "smoke"
    assert mini.world is not None and load_profile("full").world is None
    assert fingerprint(mini) != fingerprint(smoke)
    assert fingerprint(mini) == fingerprint(load_profile("mini"))


def test_default_profile_is_mini():
    assert load_profile().name == "mini"


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(ProfileError, match=r"unknown profile 'huge'.*mini"):
        load_profile("huge")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "custom.yaml"
    path.write_text(text)
    return path


def _mini_text() -> str:
    return (paths.REPO / "xsd" / "profiles" / "mini.yaml").read_text()


def test_a_profile_file_given_by_path(tmp_path):
    path = _write(tmp_path, _mini_text().replace("name: mini", "name: custom"))
    assert load_profile(path).name == "custom"


def test_missing_profile_file(tmp_path):
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(tmp_path / "absent.yaml")


@pytest.mark.parametrize("text, message", [
    ("name: [unclosed", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
    ("name: x\ndescription: y\n", "missing key 'seed'"),
    ("name: x\ndescription: y\nseed: zero\n", "seed: expected an integer"),
    ("name: x\ndescription: y\nseed: 0\ncolour: blue\n", r"unknown key\(s\) \['colour'\]"),
])
def test_malformed_profiles_name_file_and_key(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ProfileError, match=message) as error:
        load_profile(path)
    assert str(path) in str(error.value)


def test_a_profile_that_extends_another_holds_only_its_changes(tmp_path):
    path = _write(tmp_path, "extends: mini\nname: custom\nmodels:\n  train: {tune_steps: 3000}\n"
                            "  target_tower: {num_layers: 2}\n")
    custom, mini = load_profile(path), load_profile("mini")
    assert custom.name == "custom" and custom.source == str(path)
    assert custom.models.train.tune_steps == 3000 and custom.models.target_tower.num_layers == 2
    # everything it does not name is mini's, down to the neighbours of what it changes
    assert custom.models.train.still_steps == mini.models.train.still_steps
    assert custom.models.target_tower.hidden_size == mini.models.target_tower.hidden_size
    assert custom.world == mini.world and custom.extract == mini.extract


def test_mini_long_is_mini_trained_longer():
    mini, long = load_profile("mini"), load_profile("mini-long")
    assert (long.world, long.extract, long.adapters, long.seed) == (mini.world, mini.extract, mini.adapters, mini.seed)
    assert dataclasses.replace(long.models, train=mini.models.train) == mini.models
    changed = {key for key, value in dataclasses.asdict(long.models.train).items()
               if getattr(mini.models.train, key) != value}
    assert changed == {"base_steps", "tower_steps", "tune_steps", "still_steps", "still_frames", "pretrain_scenes",
                       "patch_heads", "place_heads"}
    for side in ("draft", "target"):
        assert all(per_side(getattr(long.models.train, key), side) >= per_side(getattr(mini.models.train, key), side)
                   for key in changed)
    assert per_side(long.models.train.pretrain_scenes, "target") > per_side(mini.models.train.pretrain_scenes, "target")


def test_a_profile_may_extend_a_file_beside_it(tmp_path):
    (tmp_path / "base.yaml").write_text(_mini_text().replace("name: mini", "name: base"))
    path = _write(tmp_path, "extends: base.yaml\nname: child\nseed: 3\n")
    assert (load_profile(path).name, load_profile(path).seed) == ("child", 3)


@pytest.mark.parametrize("text, message", [
    ("extends: huge\nname: x\n", "unknown profile 'huge'"),
    ("extends: [mini]\nname: x\n", "extends: must name a profile"),
    ("extends: mini\nseed: 3\n", "needs a name of its own"),
    ("extends: custom.yaml\nname: x\n", "extends: 'custom.yaml' extends this profile in turn"),
    ("extends: mini\nname: x\nmodels: {train: {tune_step: 7}}\n", r"unknown key\(s\) \['tune_step'\]"),
])
def test_a_bad_extends_is_named(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ProfileError, match=message):
        load_profile(path)


def test_a_wrongly_typed_section_names_its_section(tmp_path):
    path = _write(tmp_path, "name: x\ndescription: y\nseed: 0\nworld: 5\n")
    with pytest.raises(ProfileError, match=r"world: expected a mapping"):
        load_profile(path)


def test_paths_follow_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("XSD_DATA_ROOT", str(tmp_path / "d"))
    monkeypatch.setenv("XSD_FIGURES", str(tmp_path / "f"))
    assert paths.data_root() == tmp_path / "d"
    assert paths.models_dir() == tmp_path / "d" / "models"
    assert paths.cache_dir() == tmp_path / "d" / "cache"
    assert paths.world_dir("mini") == tmp_path / "d" / "worlds" / "mini"
    assert paths.figures_dir() == tmp_path / "f"
    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "m"))
    assert paths.models_dir() == tmp_path / "m"


def test_default_paths_live_in_the_repository(monkeypatch):
    for variable in ("XSD_DATA_ROOT", "XSD_MODELS", "XSD_CACHE", "XSD_FIGURES"):
        monkeypatch.delenv(variable, raising=False)
    assert paths.data_root() == paths.REPO / "data"
    assert paths.figures_dir() == paths.REPO / "book" / "figures"
