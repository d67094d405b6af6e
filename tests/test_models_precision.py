"""A profile's training precision: float32 unless set, keys the checkpoint only when set, and an
unknown precision is refused on load naming the file and the key."""
import pytest
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


def test_patch_heads_key_the_checkpoint_only_when_set(with_train):
    profile = load_profile("smoke")
    assert not profile.models.train.patch_heads and "patch_heads" not in repr(profile.models.train)
    patched = with_train(profile, patch_heads=True)
    assert Locations(patched).checkpoint != Locations(profile).checkpoint


def test_an_unknown_precision_is_refused_on_load(tmp_path):
    data = yaml.safe_load(open(load_profile("smoke").source))
    data["models"]["train"]["precision"] = "float16"
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match="precision.*float32.*bfloat16.*float16") as error:
        load_profile(path)
    assert str(path) in str(error.value)
