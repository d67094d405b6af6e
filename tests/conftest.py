import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_xsd():
    """Run the `xsd` command line in a subprocess; returns the CompletedProcess."""
    def run(*args, env=None, timeout=600):
        return subprocess.run(
            [sys.executable, "-m", "xsd", *map(str, args)], cwd=REPO, text=True,
            capture_output=True, timeout=timeout, env={**os.environ, **(env or {})},
        )
    return run


@pytest.fixture(scope="session")
def tiny_shapes_file(tmp_path_factory):
    """The shapes profile with tiny sizes (the same sections, so the same code path: random
    weights, padded prompts, costs only), and a private data root: (profile path, data root)."""
    import yaml

    from xsd.config import load_profile

    root = tmp_path_factory.mktemp("shapes")
    data = yaml.safe_load(Path(load_profile("shapes").source).read_text())
    data["name"] = "tinyshapes"
    models = data["models"]
    models.update(image_size=56, vocab_size=2000)
    models["draft_tower"] = models["target_tower"] = {
        "hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64, "patch_size": 14}
    models["llm"] = {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "intermediate_size": 128,
                     "max_positions": 512}
    models["random_weights"]["dtype"] = "float32"
    data["extract"]["max_new_tokens"] = 12
    path = root / "tinyshapes.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, root / "data"


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory):
    """A smoke world and trained smoke models in a private data root (built once per session).

    Sets XSD_DATA_ROOT for the whole session, so every path of the pipeline lands under it."""
    from xsd import paths
    from xsd.config import load_profile
    from xsd.models.mini_training import train_pair
    from xsd.world.build import build_world

    root = tmp_path_factory.mktemp("xsd-data")
    previous = {k: os.environ.get(k) for k in ("XSD_DATA_ROOT", "XSD_MODELS", "XSD_CACHE")}
    os.environ["XSD_DATA_ROOT"] = str(root)
    for key in ("XSD_MODELS", "XSD_CACHE"):
        os.environ.pop(key, None)
    profile = load_profile("smoke")
    build_world(profile.world, profile.seed, paths.world_dir("smoke"), progress=False)
    train_pair(profile, jobs=1, log=lambda *_: None)
    yield profile
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_goldens_prepared = False


def pytest_runtest_setup(item):
    """Before the first golden notebook runs, compute every cached result the goldens read, as
    `make golden` did before recording them (see xsd.runner.prepare_golden)."""
    global _goldens_prepared
    if not _goldens_prepared and item.path.suffix == ".ipynb" and item.path.parent.name == "golden":
        from xsd.runner import prepare_golden

        prepare_golden()
        _goldens_prepared = True


@pytest.fixture
def process_calls(monkeypatch):
    """Every `xsd.processes.run_in_processes` call, as (function name, tasks, jobs), each still run."""
    from xsd import processes

    calls = []
    real = processes.run_in_processes

    def recording(function, tasks, jobs):
        calls.append((function.__name__, tasks, jobs))
        return real(function, tasks, jobs)

    monkeypatch.setattr(processes, "run_in_processes", recording)
    return calls


@pytest.fixture
def with_train():
    """`with_train(profile, **settings)`: the profile with those settings of its models' `train`
    section replaced."""
    import dataclasses

    def replace(profile, **settings):
        models = profile.models
        return dataclasses.replace(profile, models=dataclasses.replace(models, train=dataclasses.replace(
            models.train, **settings)))
    return replace


def smoke_train_file(tmp_path: Path, **train_settings) -> Path:
    """A profile file: smoke with those `models.train` settings (not loaded, so it may be invalid)."""
    import yaml

    from xsd.config import load_profile

    data = yaml.safe_load(open(load_profile("smoke").source))
    data["models"]["train"].update(train_settings)
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def smoke_variant(root: Path, name: str, **train_settings):
    """(profile, data root): the smoke profile renamed `name` with those `models.train` settings,
    written under `root`, and its world built in a private data root there."""
    import yaml

    from xsd import paths
    from xsd.config import load_profile
    from xsd.world.build import build_world

    data = yaml.safe_load(open(load_profile("smoke").source))
    data["name"] = name
    data["models"]["train"].update(train_settings)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XSD_DATA_ROOT", str(root / "data"))
        profile = load_profile(path)
        build_world(profile.world, profile.seed, paths.world_dir(profile.name), progress=False)
    return profile, root / "data"
