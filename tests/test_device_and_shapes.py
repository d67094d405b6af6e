"""Device-aware runs and the `shapes` profile: the study's architectures without the weights.

The GPU itself is not here; these tests run the same code on the CPU (device `cpu`), build the
7B configurations on the meta device, and run the shapes code path end to end on a profile with
the same sections and tiny sizes."""
import json

import pytest
import torch

from xsd import paths
from xsd.config import load_profile
from xsd.device import DeviceError, resolve


def test_shapes_builds_the_study_architectures_on_the_meta_device():
    from xsd.models.shapes import parameter_counts

    counts = parameter_counts(load_profile("shapes"))
    assert 7.3e9 < counts["target_parameters"] < 7.45e9   # Video-LLaVA-7B: Vicuna-7B + two CLIP-L towers
    assert 7.0e9 < counts["draft_parameters"] < 7.15e9    # EventGPT-7B: Vicuna-7B + one CLIP-L tower
    assert counts["target_visual_tokens"] == 8 * 257      # 8 frames of 16 x 16 patches + CLS
    assert counts["draft_visual_tokens"] == 1 + 257       # EventGPT's pooling: 1 temporal + 257 spatial
    assert (counts["draft_vocab"], counts["target_vocab"]) == (32000, 32064)


def test_devices_resolve_by_profile_and_refuse_what_is_absent():
    assert resolve("auto", load_profile("mini")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve(None, load_profile("shapes")).type == expected
    assert resolve("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA device"):
            resolve("cuda:1")


def test_a_device_that_is_not_there_is_a_clear_usage_error(run_xsd):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = run_xsd("bench", "stages", "--profile", "smoke", "--device", "cuda")
    assert done.returncode == 2
    assert "no CUDA device" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture
def tiny_shapes(tiny_shapes_file, monkeypatch):
    path, data_root = tiny_shapes_file
    monkeypatch.setenv("XSD_DATA_ROOT", str(data_root))
    return path


def test_stage_timings_of_random_weights_pad_prompts_and_record_the_device(tiny_shapes):
    from xsd.studies.stage_timings import profile_stage_timings

    result = profile_stage_timings(load_profile(tiny_shapes), repeats=1, warmup=0, decode_tokens=2, device="cpu",
                                   prompt_tokens={"target": 400, "draft": 90})
    assert result["target"]["prompt_tokens"] == 400 and result["draft"]["prompt_tokens"] == 90
    assert result["target"]["visual_tokens"] == 8 * 17 and result["draft"]["visual_tokens"] == 18
    assert result["measured_on"]["device"] == "cpu" and result["measured_on"]["dtype"] == "float32"
    assert result["target"]["decode_per_token"] > 0 and result["c"] > 0


def test_costs_only_measures_every_call_alone_beside_the_draft_and_over_a_static_cache(tiny_shapes, run_xsd, tmp_path):
    import os

    out = tmp_path / "costs.json"
    done = run_xsd("bench", "decode", "--costs-only", "--profile", tiny_shapes, "--max-k", "3", "--device", "cpu",
                   "--prompt-tokens", "300", "80", "--json", out,
                   env={"XSD_DATA_ROOT": os.environ["XSD_DATA_ROOT"]})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["kind"] == "costs" and result["random_weights"] is True
    assert result["measured_on"]["device"] == "cpu"
    for costs in (result["costs"], result["static_costs"]):
        assert costs["prompt_tokens"] == 300
        assert set(costs["verify_s"]) == {"1", "2", "3"} and all(v > 0 for v in costs["verify_s"].values())
        assert set(costs["head_step_s"]) == {"B1", "L5F"}
        beside = costs["beside_draft"]
        assert beside["draft_busy_fraction"] == 1.0  # the draft was decoding through every timed call
        assert costs["draft_slowdown"]["prefill"] > 0
        for method in ("ar-loop", "b1"):
            match = costs["greedy_exact_match"][method]
            assert match["samples"] == 2 and match["tokens"] > 0
            assert match["matched"] == 2  # float32 on the CPU: lossless, token for token
    assert "static" in done.stdout and "verify(3)" in done.stdout
    assert not any(key in result for key in ("methods", "tau", "speedup_vs_ar"))  # no acceptance with random weights


def test_the_full_benchmark_refuses_random_weights(tiny_shapes, run_xsd, tmp_path):
    import os

    done = run_xsd("bench", "decode", "--profile", tiny_shapes, "--json", tmp_path / "x.json",
                   env={"XSD_DATA_ROOT": os.environ["XSD_DATA_ROOT"]})
    assert done.returncode == 2 and "--costs-only" in done.stderr


def test_the_draft_worker_side_loads_the_draft_and_the_target_lm_head_only(smoke_data):
    from xsd.models.registry import draft_side, load_models

    pair = load_models(smoke_data)
    side, lm_head = draft_side(smoke_data, "cpu")
    assert side.target is None
    torch.testing.assert_close(lm_head, pair.target.get_output_embeddings().weight)
    for a, b in zip(side.draft.state_dict().values(), pair.draft.state_dict().values()):
        assert torch.equal(a, b)


def test_where_the_models_run_does_not_change_their_cache_key():
    import dataclasses

    from xsd.locations import Locations

    mini = load_profile("mini")
    on_gpu = dataclasses.replace(mini, models=dataclasses.replace(mini.models, device="cuda:1"))
    assert Locations(on_gpu).checkpoint == Locations(mini).checkpoint


def test_the_decoder_holds_one_7b_model_per_process_where_models_are_large(tiny_shapes):
    from xsd.pipeline import ensure_decoder

    decoder = ensure_decoder(load_profile(tiny_shapes), ("ar", "b1"), device="cpu", progress=False)
    try:
        assert decoder.pair.draft is None and decoder.pair.target is not None  # the worker loads the draft
        assert decoder.worker is None and set(decoder.heads) == {"B1"}
    finally:
        decoder.close()


def test_a_static_decoder_returns_generates_tokens(tiny_shapes):
    from xsd.decode.static_target import StaticTarget
    from xsd.pipeline import ensure_decoder, ensure_world
    from xsd.world.dataset import WorldDataset

    profile = load_profile(tiny_shapes)
    decoder = ensure_decoder(profile, ("ar", "ar-loop", "b1"), device="cpu", static=True, progress=False)
    dataset = WorldDataset(ensure_world(profile, False), "test")
    sample = dataset[0]
    frames = dataset.event_frames(sample), dataset.video_frames(sample)
    try:
        assert isinstance(decoder.target, StaticTarget)
        results = {m: decoder.run(m, *frames, sample.question, 8) for m in ("ar", "ar-loop", "b1")}
        assert results["b1"]["stats"]["target_forwards"] > 0
        assert results["ar-loop"]["tokens"] == results["b1"]["tokens"] == results["ar"]["tokens"]
    finally:
        decoder.close()


def test_the_cpu_summary_names_its_kernels_and_bf16(monkeypatch):
    from xsd import device

    monkeypatch.setattr(device, "native_bf16", lambda where: False)
    summary = device.cpu_summary()
    assert torch.backends.cpu.get_cpu_capability() in summary and "bf16 in hardware: no" in summary
    monkeypatch.setattr(device, "native_bf16", lambda where: True)
    assert "bf16 in hardware: yes" in device.cpu_summary()
