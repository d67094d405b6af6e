"""Bad input gets a clear error, and a repaired input is picked up.

Arguments out of range are usage errors naming the argument and the range, and the decoder's API
refuses the same values; the errors the package raises on purpose end a command with one line
(the traceback only with --debug); profiles with values that would crash later are refused;
failed extraction samples are retried; `xsd data check` and the recording importer catch data
that is silently wrong; a moved cache keeps its adapters.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from xsd import paths
from xsd.cli import main
from xsd.config import ProfileError, load_profile
from xsd.world.layout import EVENT_DTYPE, DataError, Layout, read_json, write_json

SMOKE = Path(load_profile("smoke").source).read_text()


# -- item 2: one rule per argument, the same for every method and for the API --------------------

@pytest.mark.parametrize("argv, argument, allowed", [
    (["decode", "--method", "b1", "--temperature", "-1"], "--temperature", "≥ 0"),
    (["decode", "--method", "ar", "--temperature", "-1"], "--temperature", "≥ 0"),
    (["decode", "--method", "ar", "--temperature", "nan"], "--temperature", "finite"),
    (["decode", "--method", "ar", "--max-new-tokens", "-3"], "--max-new-tokens", "≥ 1"),
    (["decode", "--method", "b1", "--max-new-tokens", "-3"], "--max-new-tokens", "≥ 1"),
    (["decode", "--method", "b1", "--max-new-tokens", "0"], "--max-new-tokens", "≥ 1"),
    (["decode", "--method", "b1", "--gamma", "0"], "--gamma", "≥ 1"),
    (["decode", "--method", "ar", "--seed", "-2"], "--seed", "≥ 0"),
    (["bench", "decode", "--n", "0", "--json", "x.json"], "--n", "≥ 1"),
    (["bench", "decode", "--gammas", "2", "0", "--json", "x.json"], "--gammas", "≥ 1"),
    (["bench", "decode", "--max-new-tokens", "0", "--json", "x.json"], "--max-new-tokens", "≥ 1"),
    (["bench", "stages", "--repeats", "0"], "--repeats", "≥ 1"),
    (["bench", "stages", "--prompt-tokens", "10", "-1"], "--prompt-tokens", "≥ 1"),
    (["models", "eval", "--limit", "-1"], "--limit", "≥ 0"),
    (["data", "import-dsec", "--dsec-root", "a", "--out", "b", "--test-fraction", "1.5"], "--test-fraction",
     "in [0, 1]"),
    (["data", "import-recording", "--events", "e.npy", "--video", "v.mp4", "--out", "o", "--name", "r",
      "--sensor-size", "0", "64"], "--sensor-size", "≥ 1"),
])
def test_an_argument_out_of_range_is_a_usage_error_naming_it_and_its_range(argv, argument, allowed, capsys):
    if argv[0] == "decode":
        argv = [*argv, "--sample", "0"]
    if argv[0] != "data":
        argv = [*argv, "--profile", "smoke"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    error = capsys.readouterr().err
    assert exit_.value.code == 2
    assert f"argument {argument}: " in error and allowed in error and "Traceback" not in error


def test_a_negative_temperature_is_refused_by_the_command_line(run_xsd):
    done = run_xsd("decode", "--profile", "smoke", "--sample", "0", "--method", "b1", "--temperature", "-1")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "xsd decode: error: argument --temperature: must be ≥ 0, not -1"


@pytest.mark.parametrize("method", ["ar", "ar-loop", "b1", "l5f"])
@pytest.mark.parametrize("values, name", [
    ({"max_new_tokens": 0}, "max_new_tokens"), ({"max_new_tokens": -3}, "max_new_tokens"),
    ({"max_new_tokens": 2.5}, "max_new_tokens"), ({"temperature": -1.0}, "temperature"),
    ({"temperature": float("nan")}, "temperature"), ({"gamma": 0}, "gamma"),
])
def test_the_decoder_refuses_the_same_values_for_every_method(method, values, name):
    from xsd.decode.methods import Decoder

    decoder = Decoder(pair=None, heads={}, gamma=values.get("gamma", 3))
    arguments = {"max_new_tokens": 8, "temperature": 0.0, **values}
    arguments.pop("gamma", None)
    with pytest.raises(ValueError, match=name):
        decoder.run(method, None, None, "question?", **arguments)


@pytest.mark.parametrize("values, name", [
    ({"max_new_tokens": 0}, "max_new_tokens must be an integer ≥ 1"),
    ({"max_new_tokens": -3}, "max_new_tokens"), ({"temperature": -0.5}, "temperature must be ≥ 0"),
])
def test_speculative_generate_refuses_them_before_any_work(values, name):
    from xsd.decode import speculative_generate

    arguments = {"max_new_tokens": 8, "temperature": 0.0, **values}
    with pytest.raises(ValueError, match=name):
        speculative_generate(None, None, None, arguments.pop("max_new_tokens"), **arguments)


# -- item 3: errors raised on purpose are one line; --debug shows the traceback --------------------

def _bad_profile(tmp_path, old, new) -> Path:
    assert old in SMOKE
    path = tmp_path / "bad.yaml"
    path.write_text(SMOKE.replace(old, new, 1))
    return path


def test_a_profile_error_is_one_line_and_debug_shows_the_traceback(run_xsd, tmp_path):
    path = _bad_profile(tmp_path, "batch_size: 8\n  shard_size", "batch_size: 0\n  shard_size")
    done = run_xsd("profile", "--profile", path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"xsd: profile error: {path}: extract: batch_size: must be ≥ 1, found 0"
    for argv in (("--debug", "profile", "--profile", path), ("profile", "--profile", path, "--debug")):
        debug = run_xsd(*argv)
        assert debug.returncode == 2 and "Traceback" in debug.stderr and "ProfileError" in debug.stderr
        assert debug.stderr.strip().splitlines()[-1] == done.stderr.strip()


@pytest.mark.parametrize("error, code, label", [
    ("xsd.world.layout.DataError", 1, "data error"), ("xsd.store.StoreError", 1, "store error"),
    ("xsd.fit.CheckpointError", 1, "checkpoint error"),
    ("xsd.models.loading.ModelLoadError", 1, "model error"),
    ("xsd.models.registry.ModelsNotTrained", 1, "models not trained"),
    ("xsd.device.DeviceError", 2, "device error"), ("xsd.config.ProfileError", 2, "profile error"),
])
def test_every_error_raised_on_purpose_reaches_the_user_as_one_line(error, code, label, monkeypatch, capsys):
    import importlib

    module, name = error.rsplit(".", 1)
    kind = getattr(importlib.import_module(module), name)

    def fail(args):
        raise kind("the file x.png is broken")

    monkeypatch.setattr("xsd.commands.profile.show_profile", fail)
    assert main(["profile", "--profile", "smoke"]) == code
    assert capsys.readouterr().err == f"xsd: {label}: the file x.png is broken\n"


def test_a_bug_keeps_its_traceback(monkeypatch):
    def fail(args):
        raise KeyError("a bug")

    monkeypatch.setattr("xsd.commands.profile.show_profile", fail)
    with pytest.raises(KeyError):
        main(["profile", "--profile", "smoke"])


@pytest.fixture
def world_copy(smoke_data, tmp_path, monkeypatch):
    """A copy of the smoke world in its own data root (beside the session's trained models),
    which a test may break; XSD_DATA_ROOT, XSD_MODELS and XSD_CACHE point at it."""
    world = paths.world_dir("smoke")
    copy = tmp_path / "data"
    shutil.copytree(world, copy / "worlds" / "smoke")
    env = {"XSD_DATA_ROOT": str(copy), "XSD_MODELS": str(world.parents[1] / "models"),
           "XSD_CACHE": str(tmp_path / "cache")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return copy / "worlds" / "smoke", env


@pytest.mark.slow
@pytest.mark.parametrize("broken", ["png", "mp4"])
def test_decode_on_a_corrupt_input_is_one_line_naming_the_file(world_copy, broken, monkeypatch, capsys):
    from xsd.world.dataset import WorldDataset

    root, _ = world_copy
    sample = WorldDataset(root, "test")[0]
    layout = Layout(root)
    path = layout.event_image(sample.seq, sample.clip, 0) if broken == "png" else layout.mp4(sample.seq)
    path.write_bytes(b"not a " + broken.encode())

    class Loaded:  # the models are not what this test is about: the inputs are read after they load
        threads = {}

        def run(self, *args):
            raise AssertionError("decoded a corrupt input")

        def close(self):
            pass

    monkeypatch.setattr("xsd.pipeline.ensure_decoder", lambda *args, **kwargs: Loaded())
    assert main(["decode", "--profile", "smoke", "--sample", sample.id, "--method", "ar"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"xsd: data error: {path}: ") and error.count("\n") == 1


@pytest.mark.slow
def test_extract_on_invalid_questions_json_is_one_line(world_copy, run_xsd):
    root, env = world_copy
    (root / "questions.json").write_text("[{not json")
    done = run_xsd("extract", "--profile", "smoke", "--split", "test", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"xsd: data error: {root / 'questions.json'}: not valid JSON")
    debug = run_xsd("--debug", "extract", "--profile", "smoke", "--split", "test", env=env)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


# -- item 4: failed samples are retried, and a run with failures says so ---------------------------

def _shards(root: Path) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.glob("shard-*.safetensors"))}


@pytest.mark.slow
def test_a_repaired_input_is_extracted_on_the_next_run_and_the_rest_stays(world_copy, run_xsd, smoke_data,
                                                                          monkeypatch):
    from xsd.extract import MANIFEST, chosen_samples, extract, open_store
    from xsd.locations import Locations
    from xsd.world.dataset import WorldDataset

    root, env = world_copy
    settings = smoke_data.extract
    samples = chosen_samples(WorldDataset(root, "train"), settings.train_samples, smoke_data.seed)
    first_chunk = {(s.seq, s.clip) for s in samples[:settings.shard_size]}
    # a clip whose chosen questions all lie in chunk 1 (of 2): breaking its event frame fails them all
    sample = next(s for s in samples[settings.shard_size:] if (s.seq, s.clip) not in first_chunk)
    failing = [s.id for s in samples if (s.seq, s.clip) == (sample.seq, sample.clip)]
    png = Layout(root).event_image(sample.seq, sample.clip, 0)
    intact = png.read_bytes()
    png.write_bytes(b"not a png")
    command = ("extract", "--profile", "smoke", "--split", "train")

    first = run_xsd(*command, env=env)
    store = Locations(smoke_data).store("train")
    assert first.returncode == 1, first.stderr[-2000:]
    n = len(failing)
    assert f"{n} sample(s) could not be extracted" in first.stderr
    assert f"  {failing[0]}: DataError: {png}: corrupt or truncated PNG" in first.stderr
    assert f"every failure with its reason: {store / MANIFEST})" in first.stderr and "Traceback" not in first.stderr
    assert json.loads(first.stdout)["failed"] == n
    assert sorted(json.loads((store / MANIFEST).read_text())) == sorted(failing)
    assert len(open_store(smoke_data, "train")) == settings.train_samples - n
    before = _shards(store)

    again = run_xsd(*command, env=env)  # still broken: retried, still failing, still exit 1
    assert again.returncode == 1
    assert f"retried {n} sample(s) that failed before: 0 extracted now, {n} still fail" in again.stderr
    assert json.loads(again.stdout)["chunks_this_run"] == [1]
    redone = _shards(store)
    assert redone["shard-00000.safetensors"] == before["shard-00000.safetensors"]  # untouched
    assert redone["shard-00001.safetensors"][0] == before["shard-00001.safetensors"][0]  # the same bytes again

    png.write_bytes(intact)
    repaired = run_xsd(*command, env=env)
    assert repaired.returncode == 0, repaired.stderr[-2000:]
    assert f"retried {n} sample(s) that failed before: {n} extracted now, 0 still fail" in repaired.stderr
    report = json.loads(repaired.stdout)
    assert report["chunks_this_run"] == [1] and report["failed"] == 0 and report["samples"] == settings.train_samples
    assert json.loads((store / MANIFEST).read_text()) == {}
    after = _shards(store)
    assert after["shard-00000.safetensors"] == before["shard-00000.safetensors"]  # not rewritten
    assert sample.id in {r.id for r in open_store(smoke_data, "train").records()}

    # the repaired store is the one an intact input gives in the first place
    monkeypatch.setenv("XSD_CACHE", str(Path(env["XSD_CACHE"]).parent / "clean"))
    extract(smoke_data, "train", progress=False)
    clean = Locations(smoke_data).store("train")
    assert json.loads((clean / "index.json").read_text()) == json.loads((store / "index.json").read_text())
    assert {name: data for name, (data, _) in _shards(clean).items()} == \
        {name: data for name, (data, _) in after.items()}
    nothing_to_do = run_xsd(*command, env=env)
    assert nothing_to_do.returncode == 0 and json.loads(nothing_to_do.stdout)["chunks_this_run"] == []


# -- item 5: profile values in range ---------------------------------------------------------------

@pytest.mark.parametrize("old, new, message", [
    ("batch_size: 8\n  shard_size", "batch_size: 0\n  shard_size", "extract: batch_size: must be ≥ 1, found 0"),
    ("max_new_tokens: 16", "max_new_tokens: -5", "extract: max_new_tokens: must be ≥ 1, found -5"),
    ("shard_size: 16", "shard_size: 0", "extract: shard_size: must be ≥ 1"),
    ("test_fraction: 0.5", "test_fraction: 1.5", "world: test_fraction: must be in (0, 1), found 1.5"),
    ("test_fraction: 0.5", "test_fraction: 0.1", "world: test_fraction: 0.1 of 4 sequences leaves no test sequence"),
    ("render_fps: 120", "render_fps: 100", "world: render_fps: must be a multiple of video_fps (24)"),
    ("n_sequences: 4", "n_sequences: 0", "world: n_sequences: must be ≥ 1"),
    ("L4: {heads: 2}", "L4: {haeds: 2}", "adapters: sizes: L4: unknown key(s) ['haeds']; allowed: ['ffn', 'heads']"),
    ("L5F: {heads: 2}", "L5F: {heads: 2, blocks: 3}", "adapters: sizes: L5F: unknown key(s) ['blocks']"),
    ("L4: {heads: 2}", "L9: {heads: 2}", "adapters: sizes: unknown adapter 'L9'"),
    ("L4: {heads: 2}", "L4: {heads: 0}", "adapters: sizes: L4: heads: must be ≥ 1, found 0"),
    ("L4: {heads: 2}", "L4: {heads: 3}", "adapters: sizes: L4: heads: must divide the LLM's hidden_size 64"),
    ("L4: {heads: 2}", "L4: {heads: two}", "adapters: sizes: L4: heads: expected an integer"),
    ("max_epochs: 3", "max_epochs: 0", "adapters: max_epochs: must be ≥ 1"),
    ("tune_lr: 0.001", "tune_lr: 0", "models: train: tune_lr: must be > 0"),
    ("tower_steps: 20", "tower_steps: {draft: 0, target: 5}", "models: train: tower_steps: draft: must be ≥ 1"),
    ("tower_steps: 20", "tower_steps: {draft: 5}", "models: train: tower_steps: per side needs exactly the keys"),
    ("tower_steps: 20", "tower_steps: {draft: x, target: 5}", "models: train: tower_steps: draft: expected an integer"),
    ("event_frames: 1", "event_frames: 3", "models: event_frames: must be 1 (slice 0) or 5"),
    ("num_layers: 2, num_heads: 4", "num_layers: 2, num_heads: 3", "models: llm: num_heads: must divide hidden_size 64"),
])
def test_a_profile_value_that_would_crash_later_is_refused_naming_file_and_key(tmp_path, old, new, message):
    path = _bad_profile(tmp_path, old, new)
    with pytest.raises(ProfileError) as error:
        load_profile(path)
    assert str(error.value).startswith(f"{path}: {message}")


def test_the_sizes_a_profile_may_give_are_what_the_constructors_take():
    import inspect

    import xsd.adapters
    from xsd.config import adapter_size_parameters

    assert set(adapter_size_parameters("L4")) == set(inspect.signature(xsd.adapters.L4).parameters) - {"hidden_size"}
    assert set(adapter_size_parameters("L5F")) == {"heads", "ffn", "align", "bottleneck"}  # through **sizes
    for name in xsd.adapters.ADAPTERS:
        xsd.adapters.create_adapter(name, 32, **{k: 2 for k in adapter_size_parameters(name) if k != "align"})


def test_the_shipped_profiles_are_in_range():
    from xsd.config import available_profiles

    for name in available_profiles():
        load_profile(name)


# -- item 6: data that is silently wrong -----------------------------------------------------------

def _recording(tmp_path: Path, stray: tuple[int, int] | None = None, size=(64, 48)):
    """2 s of events on a WxH sensor (one stray event at `stray`) and a WxH video at 24 fps."""
    from xsd.world.video import write_mp4

    rng = np.random.default_rng(0)
    n = 20_000
    events = np.zeros(n, EVENT_DTYPE)
    events["t"] = np.sort(rng.integers(0, 2_000_000, n))
    events["x"], events["y"] = rng.integers(0, size[0], n), rng.integers(0, size[1], n)
    events["p"] = rng.integers(0, 2, n)
    if stray:
        events["x"][n // 2], events["y"][n // 2] = stray
    np.save(tmp_path / "events.npy", events, allow_pickle=False)
    frames = np.repeat((np.arange(48)[:, None, None, None] * 5 % 255 + np.zeros((1, size[1], size[0], 1))), 3,
                       axis=-1).astype(np.uint8)
    write_mp4(tmp_path / "video.mp4", frames, 24)
    return tmp_path / "events.npy", tmp_path / "video.mp4"


def test_a_stray_event_beyond_the_video_is_refused_without_a_sensor_size(tmp_path, run_xsd):
    events, video = _recording(tmp_path, stray=(500, 300))
    done = run_xsd("data", "import-recording", "--events", events, "--video", video, "--out", tmp_path / "out",
                   "--name", "rec")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "x = 500, y = 300, beyond the 64x48 frame" in done.stderr and "--sensor-size W H" in done.stderr
    assert not (tmp_path / "out" / "clips.json").exists()


def test_an_inferred_sensor_size_is_stated(tmp_path, run_xsd):
    events, video = _recording(tmp_path)
    done = run_xsd("data", "import-recording", "--events", events, "--video", video, "--out", tmp_path / "out",
                   "--name", "rec")
    assert done.returncode == 0, done.stderr
    assert "sensor size 64x48, inferred from the events' extent (the video is 64x48)" in done.stdout
    last = read_json(Layout(tmp_path / "out").manifest)["last_import"]
    assert last["sensor_size"] == [64, 48] and last["sensor_size_from"] == "the events' extent"


def test_data_check_warns_of_a_sensor_larger_than_its_video(tmp_path, run_xsd):
    from xsd.world.check import check_root
    from xsd.world.recording import import_recording

    events, video = _recording(tmp_path, stray=(500, 300))
    import_recording(events, video, tmp_path / "out", "rec", sensor_size=(501, 301))  # as given: allowed
    warnings = []
    assert check_root(tmp_path / "out", progress=False, warnings=warnings) == []
    assert len(warnings) == 1 and "the event sensor is 501x301" in warnings[0] and "64x48 video" in warnings[0]
    done = run_xsd("data", "check", tmp_path / "out", "--quiet")
    assert done.returncode == 0 and "warning: " in done.stdout and "OK, 1 warning(s)" in done.stdout


@pytest.fixture
def recording_root(tmp_path):
    from xsd.world.recording import import_recording

    events, video = _recording(tmp_path)
    import_recording(events, video, tmp_path / "out", "rec")
    return tmp_path / "out"


def test_data_check_names_the_file_and_entry_of_a_question_without_a_field(recording_root, run_xsd):
    layout = Layout(recording_root)
    questions = read_json(layout.questions)
    del questions[3]["seq"]
    questions[5]["answerable_by"] = "video"
    write_json(layout.questions, questions)
    done = run_xsd("data", "check", recording_root, "--quiet")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{layout.questions}: entry 3 ({questions[3]['id']}): missing field(s) ['seq']" in done.stdout
    assert f"{layout.questions}: entry 5 ({questions[5]['id']}): answerable_by is str, not list" in done.stdout


def test_data_check_names_a_clip_entry_without_a_field(recording_root):
    from xsd.world.check import check_root

    layout = Layout(recording_root)
    clips = read_json(layout.clips)
    del clips[1]["sensor_size"]
    write_json(layout.clips, clips)
    problems = check_root(recording_root, progress=False)
    assert f"{layout.clips}: entry 1: missing field(s) ['sensor_size']" in problems


def test_data_check_finds_a_split_naming_no_sequence_and_a_missing_meta(recording_root):
    from xsd.world.check import check_root

    layout = Layout(recording_root)
    splits = read_json(layout.splits)
    splits["test"] = [*splits.get("test", []), "ghost"]
    write_json(layout.splits, splits)
    layout.meta("rec").unlink()
    problems = check_root(recording_root, progress=False)
    assert f"{layout.splits}: split 'test' names sequence 'ghost', which does not exist " \
           f"(no {layout.meta('ghost')}, no clips in clips.json)" in problems
    assert f"{layout.meta('rec')}: missing: the meta file of sequence rec" in problems


def test_a_sound_recording_root_passes(recording_root):
    from xsd.world.check import check_root

    warnings = []
    assert check_root(recording_root, progress=False, warnings=warnings) == [] and warnings == []


# -- item 7: cache keys hold content, not absolute paths ------------------------------------------

def test_a_moved_cache_keeps_its_adapters(tmp_path, monkeypatch):
    from xsd import pipeline
    from xsd.adapters import ADAPTERS
    from xsd.extract import REPORT
    from xsd.locations import Locations

    profile = load_profile("smoke")
    monkeypatch.setenv("XSD_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XSD_MODELS", str(tmp_path / "models"))   # the adapters stay; their stores move
    for split in ("train", "test"):   # what ensure_stores and ensure_adapters take for done
        paths.ensure(Locations(profile).store(split))
        (Locations(profile).store(split) / REPORT).write_text("{}")
    for name in ADAPTERS:
        paths.ensure(Locations(profile).adapter(name))
        (Locations(profile).adapter(name) / "result.json").write_text("{}")

    shutil.move(tmp_path / "cache", tmp_path / "moved")
    monkeypatch.setenv("XSD_CACHE", str(tmp_path / "moved"))

    def retrain(*args, **kwargs):
        raise AssertionError("the moved cache was not reused")

    monkeypatch.setattr(pipeline, "ensure_models", lambda *args, **kwargs: None)
    for step in ("extract.extract", "extract.extract_splits", "train_adapters.train_profile_adapter",
                 "train_adapters.train_profile_adapters"):
        monkeypatch.setattr(f"xsd.{step}", retrain)
    pipeline.ensure_adapters(profile, progress=False)


def test_the_decode_benchmark_key_survives_a_moved_cache(tmp_path, monkeypatch):
    from xsd.studies import live_wallclock

    keys = []
    monkeypatch.setattr("xsd.pipeline.ensure_adapters", lambda *args, **kwargs: None)
    for where in ("one", "two"):
        cache = tmp_path / where / "cache"
        monkeypatch.setenv("XSD_CACHE", str(cache))
        monkeypatch.setenv("XSD_MODELS", str(tmp_path / where / "models"))
        monkeypatch.setattr(live_wallclock, "cached_json",
                            lambda path, compute, refresh, cache=cache:
                            keys.append(path.relative_to(cache)) or {"runs": [], "costs": {}})
        live_wallclock.decode_benchmark(load_profile("smoke"))
    assert keys[0] == keys[1] and keys[0].name.startswith("decode_benchmark-")


def test_a_questions_entry_without_a_field_is_a_data_error_naming_the_file_and_entry(tmp_path, monkeypatch):
    from xsd.pipeline import ensure_world
    from xsd.world.dataset import WorldDataset

    monkeypatch.setenv("XSD_DATA_ROOT", str(tmp_path / "data"))
    root = tmp_path / "world"
    shutil.copytree(ensure_world(load_profile("smoke"), progress=False), root)
    questions = Layout(root).questions
    entries = json.loads(questions.read_text())
    broken = [dict(e) for e in entries]
    del broken[3]["qtype"]
    questions.write_text(json.dumps(broken))
    with pytest.raises(DataError, match=r"questions.json: entry 3 has no 'qtype'"):
        WorldDataset(root, "all")
    broken = [dict(e) for e in entries]
    del broken[5]["seq"]
    questions.write_text(json.dumps(broken))
    with pytest.raises(DataError, match=r"questions.json: entry 5 has no seq/clip"):
        WorldDataset(root, "all")
