"""A profile's training precision: float32 unless set, keys the checkpoint only when set, and an
unknown precision is refused on load naming the file and the key."""
import pytest
import torch
import yaml

from xsd.config import ProfileError, load_profile
from xsd.locations import Locations


def test_precision_keys_the_checkpoint_only_when_changed(with_train):
    profile = load_profile("smoke")
    assert profile.models.train.precision == "float32"
    assert "precision" not in repr(profile.models.train)
    bf16 = with_train(profile, precision="bfloat16")
    assert "precision='bfloat16'" in repr(bf16.models.train)
    assert Locations(bf16).checkpoint != Locations(profile).checkpoint


@pytest.mark.parametrize("setting", ["patch_heads", "place_heads", "base_lookups", "base_absences"])
def test_a_switch_keys_the_checkpoint_only_when_set(with_train, setting):
    profile = load_profile("smoke")
    assert not getattr(profile.models.train, setting) and setting not in repr(profile.models.train)
    switched = with_train(profile, **{setting: True})
    assert Locations(switched).checkpoint != Locations(profile).checkpoint


def test_an_unknown_precision_is_refused_on_load(tmp_path):
    data = yaml.safe_load(open(load_profile("smoke").source))
    data["models"]["train"]["precision"] = "float16"
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match="precision.*float32.*bfloat16.*float16") as error:
        load_profile(path)
    assert str(path) in str(error.value)


def test_bfloat16_on_hardware_that_emulates_it_is_warned_of(monkeypatch, tmp_path):
    from torch import nn

    from xsd import device
    from xsd.models import train

    model = nn.Linear(4, 1)
    said = []
    settings = train.LoopSettings(steps=1, lr=0.01, seed=0, precision="bfloat16")
    monkeypatch.setattr(device, "native_bf16", lambda where: False)
    train.run_steps(model, lambda step: model(torch.ones(2, 4)).float().pow(2).mean(), settings,
                    tmp_path / "emulated", log=said.append)
    assert any("without bf16 instructions" in line and "float32" in line for line in said)
    monkeypatch.setattr(device, "native_bf16", lambda where: True)
    said.clear()
    train.run_steps(model, lambda step: model(torch.ones(2, 4)).float().pow(2).mean(), settings,
                    tmp_path / "native", log=said.append)
    assert said and not any("bf16" in line for line in said)
