"""Stages and costs files from any machine, read back into the studies (xsd.studies.costs_file)."""
import json
import os
import re

import nbformat
import pytest

from xsd import costmodel
from xsd.studies.costs_file import CostsFileError, cost_inputs, load_costs, load_stages, prefill_window, stages_c, where

GPU = {"device": "cuda:0", "device_name": "Test GPU 9000", "torch": "2.13.0", "transformers": "5.25.0",
       "torch_threads": 1, "dtype": "bfloat16", "threads": {"torch": 1}}


def _stages() -> dict:
    """A stages file as `xsd bench stages --json` writes it (ms)."""
    model = {"vision": 2.0, "projector": 0.2, "prefill": 20.0, "decode_per_token": 14.0,
             "prefill_with_vision": 97.0, "prompt_tokens": 636, "visual_tokens": 258}
    return {"profile": "shapes", "sample": "seq0000/000000/q0", "prompt_padding": {"target": 4643, "draft": 636},
            "measured_on": dict(GPU), "peak_memory_gb": 31.5, "repeats": 10, "unit": "ms",
            "draft": model, "target": {**model, "decode_per_token": 15.0, "prefill_with_vision": 470.0,
                                       "prompt_tokens": 4643, "visual_tokens": 2056},
            "c": 14 / 15, "prefill_ratio": 4.8, "prefill_ratio_with_vision": 470 / 97, "frames": {}}


def _target_costs(scale: float = 1.0) -> dict:
    verify = {str(k): scale * (0.015 + 0.001 * (k - 1)) for k in range(1, 9)}
    beside = {k: 1.2 * v for k, v in verify.items()}
    return {"prefill_s": scale * 0.47, "decode_s": verify["1"], "verify_s": verify,
            "head_step_s": {"B1": scale * 0.0004, "L5F": scale * 0.0006}, "prompt_tokens": 4643,
            "beside_draft": {"prefill_s": scale * 0.52, "decode_s": beside["1"], "verify_s": beside,
                             "draft_tokens_at_prefill_end": 20.0, "draft_busy_fraction": 1, "repeats": 5,
                             "draft_device": "cuda:0"},
            "draft_slowdown": {"prefill": 0.52 / 0.47, "decode": 1.2, "verify": {k: 1.2 for k in verify}},
            "greedy_exact_match": {"ar-loop": {"matched": 2, "samples": 2, "tokens": 100, "rate": 1.0}}}


def _costs() -> dict:
    """A costs file as `xsd bench decode --costs-only --json` writes it (seconds)."""
    eager, static = _target_costs(), _target_costs(0.5)
    return {"kind": "costs", "profile": "shapes", "source": "xsd bench decode --costs-only", "measured_on": dict(GPU),
            "peak_memory_gb": {"target_process": 30.0}, "prompt_padding": {"target": 4643, "draft": 636},
            "max_k": 8, "seed": 0, "max_new_tokens": 50, "random_weights": True,
            "costs": eager, "static_costs": static,
            "static_over_eager": {"decode": 0.5, "verify": {k: 0.5 for k in eager["verify_s"]}}}


def _write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


# -- loading ----------------------------------------------------------------------------------------

def test_good_files_load_and_say_where_they_were_measured(tmp_path):
    stages = load_stages(_write(tmp_path, "stages.json", _stages()))
    costs = load_costs(_write(tmp_path, "costs.json", _costs()))
    assert stages["c"] == pytest.approx(14 / 15) and costs["costs"]["verify_s"]["4"] == pytest.approx(0.018)
    assert where(stages) == ("Test GPU 9000 (cuda:0, bfloat16; profile shapes; "
                             "prompts 4643 (target) / 636 (draft) tokens)")
    assert where(costs) == where(stages)
    c, source = stages_c(stages)
    assert c == pytest.approx(14 / 15) and "Test GPU 9000" in source
    window = prefill_window(stages)
    assert window["window_ms"] == 373.0 and window["t_egpt_decode"] == 14.0


def test_a_costs_file_without_the_static_variant_still_loads(tmp_path):
    data = _costs()
    del data["static_costs"]
    load_costs(_write(tmp_path, "costs.json", data))


@pytest.mark.parametrize("loader", [load_stages, load_costs])
def test_not_json_names_the_file(tmp_path, loader):
    path = _write(tmp_path, "broken.json", "{\"kind\": \"costs\",")
    with pytest.raises(CostsFileError, match=r"broken\.json: not a .* file: not JSON"):
        loader(path)
    path = _write(tmp_path, "list.json", "[1, 2]")
    with pytest.raises(CostsFileError, match=r"list\.json: .*the JSON is a list"):
        loader(path)
    with pytest.raises(CostsFileError, match=r"absent\.json: no such"):
        loader(tmp_path / "absent.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CostsFileError, match=r"binary\.json: not a .* file"):
        loader(tmp_path / "binary.json")


def test_a_file_of_the_wrong_kind_is_refused_naming_it(tmp_path):
    stages_path = _write(tmp_path, "stages.json", _stages())
    costs_path = _write(tmp_path, "costs.json", _costs())
    with pytest.raises(CostsFileError, match=r"stages\.json: not a costs file .*stages file.*pass it as stages_file"):
        load_costs(stages_path)
    with pytest.raises(CostsFileError, match=r"costs\.json: this is a costs file .*pass it as costs_file"):
        load_stages(costs_path)
    benchmark = _write(tmp_path, "bench.json", {"profile": "mini", "methods": {}, "costs": {}})
    with pytest.raises(CostsFileError, match=r"bench\.json: .*full decode benchmark.*--costs-only"):
        load_costs(benchmark)
    other = _write(tmp_path, "other.json", {**_costs(), "kind": "tokens"})
    with pytest.raises(CostsFileError, match=r"other\.json: not a costs file \(kind 'tokens'\)"):
        load_costs(other)


@pytest.mark.parametrize("path, loader, make", [
    (("costs", "verify_s"), load_costs, _costs),
    (("costs", "head_step_s", "L5F"), load_costs, _costs),
    (("static_costs", "beside_draft", "prefill_s"), load_costs, _costs),
    (("costs", "draft_slowdown"), load_costs, _costs),
    (("measured_on", "device_name"), load_costs, _costs),
    (("draft", "decode_per_token"), load_stages, _stages),
    (("c",), load_stages, _stages),
    (("measured_on",), load_stages, _stages),
])
def test_a_missing_key_is_named_with_the_file(tmp_path, path, loader, make):
    data = make()
    node = data
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    name = _write(tmp_path, "partial.json", data)
    key = re.escape(repr(".".join(path)))
    with pytest.raises(CostsFileError, match=rf"partial\.json: not a .* file .*: missing key {key}"):
        loader(name)


def test_bad_values_are_refused(tmp_path):
    data = _costs()
    data["costs"]["verify_s"]["3"] = -1
    with pytest.raises(CostsFileError, match=r"bad\.json: .*'costs\.verify_s\.3' should be a positive number"):
        load_costs(_write(tmp_path, "bad.json", data))
    data = _costs()
    data["costs"]["verify_s"] = {"one": 0.1}
    with pytest.raises(CostsFileError, match=r"keys are numbers of positions"):
        load_costs(_write(tmp_path, "bad.json", data))
    data = _stages()
    data["c"] = "fast"
    with pytest.raises(CostsFileError, match=r"'c' should be a positive number, got 'fast'"):
        load_stages(_write(tmp_path, "bad.json", data))


# -- the cost models' inputs ------------------------------------------------------------------------

MINI_COSTS = {"prefill_s": 0.05, "decode_s": 0.004, "verify_s": {str(k): 0.004 + 0.0005 * k for k in range(1, 6)},
              "head_step_s": {"B1": 0.0003, "L5F": 0.0004}, "in_loop": {"verify_s": {"1": 0.0045}, "head_step_s": {}}}
MINI_STAGES = {"draft": {"prefill_with_vision": 30.0, "decode_per_token": 3.0},
               "target": {"prefill_with_vision": 50.0, "decode_per_token": 4.0}}


def test_without_files_the_inputs_are_the_mini_runs_own():
    inputs = cost_inputs(fallback_costs=MINI_COSTS, fallback_stages=MINI_STAGES, fallback_label="the mini run")
    assert not inputs.from_file and inputs.machines == ["the mini run"] and inputs.beside_draft is None
    assert (inputs.t_vl_prefill, inputs.t_vl_decode, inputs.t_egpt_prefill) == (0.05, 0.004, 0.03)
    assert inputs.verify(4) == MINI_COSTS["verify_s"]["4"]
    # the same numbers the notebooks computed before they read files
    assert inputs.proxy(n_tokens=16, free_tokens=3, alpha_decode=0.7) == costmodel.two_phase_speedup(
        n_tokens=16, free_tokens=3, alpha_decode=0.7, t_vl_prefill=0.05, t_vl_decode=0.004, t_adapter=0.0004,
        t_egpt_prefill=0.03)
    honest = inputs.honest(n_tokens=16, free_tokens=2, tau=2.5, gamma=3, head="L5F", draft_bound=True)
    assert honest["speedup"] == costmodel.honest_two_phase(
        n_tokens=16, free_tokens=2, tau=2.5, gamma=3, t_vl_prefill=0.05, t_vl_decode=0.004,
        t_verify_phase1=inputs.verify(4), t_verify=inputs.verify(4), t_head=0.0004, t_egpt_prefill=0.03,
        t_egpt_decode=0.003)["speedup"]
    in_loop = cost_inputs(fallback_costs=MINI_COSTS, fallback_stages=MINI_STAGES, in_loop=True)
    assert in_loop.t_vl_decode == 0.0045 and in_loop.verify(2) == MINI_COSTS["verify_s"]["2"]
    with pytest.raises(ValueError, match="beside the draft VLM were not measured"):
        inputs.honest(n_tokens=16, free_tokens=2, tau=2.5, gamma=3, head="L5F", draft_bound=True, beside="all")


def test_files_replace_every_constant_and_label_it():
    costs, stages = _costs(), _stages()
    inputs = cost_inputs(costs, stages, fallback_costs=MINI_COSTS, fallback_stages=MINI_STAGES,
                         fallback_label="the mini run")
    assert inputs.from_file and inputs.label == "Test GPU 9000" and inputs.machines == [where(costs)]
    assert (inputs.t_vl_prefill, inputs.t_egpt_prefill, inputs.t_egpt_decode) == (0.47, 0.097, 0.014)
    assert inputs.t_head["L5F"] == 0.0006 and inputs.verify(8) == pytest.approx(0.022)
    rows = inputs.constants_ms(3)
    assert all(row["measured on"] == where(costs) for row in rows)
    assert any(row["constant"].startswith("P_vl beside") and row["ms"] == pytest.approx(520) for row in rows)
    static = cost_inputs(costs, stages, static=True)
    assert static.variant == "static" and static.t_vl_decode == pytest.approx(0.0075)
    alone = inputs.honest(n_tokens=50, free_tokens=3, tau=2.0, gamma=3, head="L5F", draft_bound=False)
    beside = inputs.honest(n_tokens=50, free_tokens=3, tau=2.0, gamma=3, head="L5F", draft_bound=False, beside="all")
    assert beside["speedup"] < alone["speedup"] and beside["decode_speedup"] < alone["decode_speedup"]
    prefill_only = inputs.honest(n_tokens=50, free_tokens=3, tau=2.0, gamma=3, head="L5F", draft_bound=False,
                                 beside="prefill")
    assert prefill_only["decode_speedup"] == pytest.approx(alone["decode_speedup"])
    assert prefill_only["t_sd"] == pytest.approx(alone["t_sd"] + 0.05)
    with pytest.raises(KeyError, match="--max-k 9"):
        inputs.verify(9)


def test_a_costs_file_alone_takes_the_draft_from_the_mini_run_and_says_so():
    inputs = cost_inputs(_costs(), None, fallback_stages=MINI_STAGES, fallback_label="the mini run")
    assert inputs.t_egpt_decode == 0.003 and inputs.sources["draft prefill and decode step"] == "the mini run"
    assert len(inputs.machines) == 2
    with pytest.raises(ValueError, match="no draft timings"):
        cost_inputs(_costs(), None)


def test_decode_phase_speedup_of_the_honest_model():
    result = costmodel.honest_two_phase_beside(
        n_tokens=11, free_tokens=0, tau=2.0, gamma=1, t_vl_prefill=1.0, t_vl_decode=0.1, t_verify_phase1=0.1,
        t_verify=0.1, t_head=0.0, t_egpt_prefill=0.0, t_egpt_decode=0.0)
    # baseline decode: 10 steps; two-phase: phase-1 verify + (10 - 1) / 2 rounds of one verify
    assert result["decode_speedup"] == pytest.approx(1.0 / (0.1 + 4.5 * 0.1))
    slower = costmodel.honest_two_phase_beside(
        t_vl_prefill_sd=1.5, n_tokens=11, free_tokens=0, tau=2.0, gamma=1, t_vl_prefill=1.0, t_vl_decode=0.1,
        t_verify_phase1=0.1, t_verify=0.1, t_head=0.0, t_egpt_prefill=0.0, t_egpt_decode=0.0)
    assert slower["t_sd"] == pytest.approx(result["t_sd"] + 0.5)
    assert slower["decode_speedup"] == pytest.approx(result["decode_speedup"])


def test_the_honest_model_charges_no_phase_1_where_there_is_none():
    inputs = cost_inputs(_costs(), _stages())
    common = dict(n_tokens=21, tau=2.0, gamma=3, head="L5F", draft_bound=False)
    alone = inputs.honest(free_tokens=0, phase1=False, **common)
    with_phase1 = inputs.honest(free_tokens=0, **common)
    assert alone["rounds"] == pytest.approx(20 / 2) and with_phase1["rounds"] == pytest.approx(19 / 2)
    assert alone["t_sd"] == pytest.approx(inputs.t_vl_prefill + 10 * (inputs.verify(4) + 3 * inputs.t_head["L5F"]))
    counted = inputs.honest(free_tokens=3, free_from_token0=True, **common)
    assert counted["rounds"] == pytest.approx(inputs.honest(free_tokens=2, **common)["rounds"])
    with pytest.raises(ValueError, match="no free tokens"):
        inputs.honest(free_tokens=1.5, phase1=False, **common)


# -- the files the commands write, and a study that reads them --------------------------------------

@pytest.mark.slow
def test_the_files_the_bench_commands_write_load(tiny_shapes_file, run_xsd, tmp_path):
    profile, data_root = tiny_shapes_file
    env = {"XSD_DATA_ROOT": str(data_root)}
    stages, costs = tmp_path / "stages.json", tmp_path / "costs.json"
    done = run_xsd("bench", "stages", "--profile", profile, "--device", "cpu", "--prompt-tokens", "300", "80",
                   "--json", stages, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    done = run_xsd("bench", "decode", "--costs-only", "--profile", profile, "--max-k", "4", "--device", "cpu",
                   "--prompt-tokens", "300", "80", "--json", costs, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    inputs = cost_inputs(load_costs(costs), load_stages(stages))
    assert inputs.machines == [where(load_costs(costs))] and "profile tinyshapes" in inputs.machines[0]
    assert inputs.verify(4) > 0 and inputs.beside_draft is not None


def _outputs_text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@pytest.mark.slow
def test_the_offline_proxy_study_takes_its_timings_from_the_files(smoke_data, run_xsd, tmp_path):
    costs = _write(tmp_path, "costs.json", _costs())
    stages = _write(tmp_path, "stages.json", _stages())
    output = tmp_path / "offline_proxy.ipynb"
    result = run_xsd("run", "offline_proxy", "--profile", "smoke", "-p", f"costs_file={costs}",
                     "-p", f"stages_file={stages}", "--output", output,
                     env={"XSD_DATA_ROOT": os.environ["XSD_DATA_ROOT"], "XSD_CACHE": str(tmp_path / "cache"),
                          "XSD_FIGURES": str(tmp_path / "figures")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = _outputs_text(nbformat.read(output, as_version=4))
    assert "Test GPU 9000 (cuda:0, bfloat16; profile shapes" in text  # where every constant was measured
    assert "proxy (Test GPU 9000)" in text and "honest, draft beside" in text and "honest, static cache" in text
    assert "costs measured on Test GPU 9000; acceptance from the smoke world" in text
    assert "more than one place" not in text
    assert not list((tmp_path / "cache" / "results" / "smoke").glob("decode_benchmark-*"))  # no mini benchmark needed


def test_the_speed_ratio_study_takes_c_and_a_prefill_window_from_a_stages_file(run_xsd, tmp_path):
    stages = _write(tmp_path, "stages.json", _stages())
    output = tmp_path / "speed_ratio.ipynb"
    result = run_xsd("run", "speed_ratio", "--profile", "smoke", "-p", f"stages_file={stages}", "--output", output,
                     env={"XSD_CACHE": str(tmp_path / "cache"), "XSD_FIGURES": str(tmp_path / "figures")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = _outputs_text(nbformat.read(output, as_version=4))
    assert "c = 0.933 (stages file: Test GPU 9000 (cuda:0, bfloat16; profile shapes" in text
    assert "prefill window measured on Test GPU 9000" in text
    assert "the window of 373.0 ms holds 26 draft tokens, as many as the seeds' 26" in text


def test_a_study_given_a_bad_file_fails_naming_it(run_xsd, tmp_path):
    path = _write(tmp_path, "costs.json", _costs())
    result = run_xsd("run", "speed_ratio", "--profile", "smoke", "-p", f"stages_file={path}", "--output",
                     tmp_path / "out.ipynb", env={"XSD_CACHE": str(tmp_path / "cache"),
                                                  "XSD_FIGURES": str(tmp_path / "figures")})
    assert result.returncode == 1
    assert "CostsFileError" in result.stdout and "costs.json" in result.stdout
