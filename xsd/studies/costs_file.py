"""Costs measured on any machine, read back into the studies.

Two commands write them, on whatever device a reader has:

- a *stages* file, `xsd bench stages --json F`: both models' vision, prefill and decode times in
  milliseconds, c and the prefill ratio (`xsd.studies.stage_timings.profile_stage_timings`);
- a *costs* file, `xsd bench decode --costs-only --json F`: the target's per-call costs in seconds
  (prefill, decode step, verify over k positions, the heads' steps), alone, beside the draft VLM and
  over a static KV cache (`xsd.studies.live_wallclock.bench_costs`).

`load_stages` and `load_costs` check that a file is what it claims to be and say what is wrong,
naming the file. `cost_inputs` turns the files, or where none is given the mini run's own
measurements, into the constants the cost models of `xsd.costmodel` take, each with where it was
measured; its methods evaluate the seeds' proxy and the honest model with them.

Over ~300 lines because the checks and the constants read the same keys: a file's checks list what
`cost_inputs` reads from it, and the two change together.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

STAGES_COMMAND = "xsd bench stages --json FILE"
COSTS_COMMAND = "xsd bench decode --costs-only --json FILE"

# what the studies read from each file (a file may carry more)
STAGE_MODEL_KEYS = ("prefill_with_vision", "decode_per_token", "prompt_tokens", "visual_tokens")
TARGET_COST_KEYS = ("prefill_s", "decode_s", "verify_s", "head_step_s", "prompt_tokens", "beside_draft",
                    "draft_slowdown")
BESIDE_DRAFT_KEYS = ("prefill_s", "decode_s", "verify_s")
SLOWDOWN_KEYS = ("prefill", "decode", "verify")
HEADS = ("B1", "L5F")


class CostsFileError(ValueError):
    """A stages or costs file that cannot be read, or is not such a file; the message names it."""


# -- reading and checking -------------------------------------------------------------------------

def load_stages(path: str | Path) -> dict:
    """A stages file (`xsd bench stages --json`), checked; the JSON object as a dict."""
    path = Path(path)
    data = _read_json(path, "stages", STAGES_COMMAND)
    kind = data.get("kind")
    if kind == "costs":
        raise CostsFileError(f"{path}: this is a costs file (kind 'costs', from `{COSTS_COMMAND}`), not a stages "
                             f"file; pass it as costs_file")
    if kind not in (None, "stages"):
        raise CostsFileError(f"{path}: kind is {kind!r}, not a stages file from `{STAGES_COMMAND}`")
    check = _Checker(path, "stages", STAGES_COMMAND)
    check.text(data, "profile")
    check.measured_on(data)
    check.positive(data, "c")
    for side in ("draft", "target"):
        model = check.mapping(data, side)
        for key in STAGE_MODEL_KEYS:
            check.positive(model, key, f"{side}.{key}")
    return data


def load_costs(path: str | Path) -> dict:
    """A costs file (`xsd bench decode --costs-only --json`), checked; the JSON object as a dict."""
    path = Path(path)
    data = _read_json(path, "costs", COSTS_COMMAND)
    kind = data.get("kind")
    if kind != "costs":
        if kind is None and "methods" in data:
            hint = "it is a full decode benchmark; run the benchmark with --costs-only"
        elif kind is None and "draft" in data and "c" in data:
            hint = f"it looks like a stages file from `{STAGES_COMMAND}`; pass it as stages_file"
        else:
            hint = f"expected \"kind\": \"costs\", written by `{COSTS_COMMAND}`"
        raise CostsFileError(f"{path}: not a costs file (kind {kind!r}): {hint}")
    check = _Checker(path, "costs", COSTS_COMMAND)
    check.text(data, "profile")
    check.measured_on(data)
    for section in ("costs", "static_costs"):
        if section == "static_costs" and section not in data:
            continue  # optional: only the static-cache variant's columns need it
        costs = check.mapping(data, section)
        for key in TARGET_COST_KEYS:
            name = f"{section}.{key}"
            if key == "verify_s":
                check.per_k(costs, key, name)
            elif key == "head_step_s":
                heads = check.mapping(costs, key, name)
                for head in HEADS:
                    check.positive(heads, head, f"{name}.{head}")
            elif key == "beside_draft":
                beside = check.mapping(costs, key, name)
                for inner in BESIDE_DRAFT_KEYS:
                    (check.per_k if inner == "verify_s" else check.positive)(beside, inner, f"{name}.{inner}")
            elif key == "draft_slowdown":
                slowdown = check.mapping(costs, key, name)
                for inner in SLOWDOWN_KEYS:
                    (check.per_k if inner == "verify" else check.positive)(slowdown, inner, f"{name}.{inner}")
            else:
                check.positive(costs, key, name)
    return data


def _read_json(path: Path, what: str, command: str) -> dict:
    if not path.is_file():
        raise CostsFileError(f"{path}: no such {what} file (a relative path is read from the directory the "
                             f"study runs in, the repository root; write one with `{command}`)")
    try:
        data = json.loads(path.read_text())
    except UnicodeDecodeError as error:
        raise CostsFileError(f"{path}: not a {what} file: not text ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise CostsFileError(f"{path}: not a {what} file: not JSON ({error.msg} at line {error.lineno}, "
                             f"column {error.colno}); write one with `{command}`") from None
    if not isinstance(data, dict):
        raise CostsFileError(f"{path}: not a {what} file: the JSON is a {type(data).__name__}, not an object; "
                             f"write one with `{command}`")
    return data


@dataclass
class _Checker:
    path: Path
    what: str
    command: str

    def fail(self, problem: str):
        raise CostsFileError(f"{self.path}: not a {self.what} file from `{self.command}`: {problem}")

    def get(self, data: dict, key: str, name: str | None):
        if key not in data:
            self.fail(f"missing key {name or key!r}")
        return data[key]

    def mapping(self, data: dict, key: str, name: str | None = None) -> dict:
        value = self.get(data, key, name)
        if not isinstance(value, dict):
            self.fail(f"{name or key!r} should be an object, got {_short(value)}")
        return value

    def text(self, data: dict, key: str, name: str | None = None) -> str:
        value = self.get(data, key, name)
        if not isinstance(value, str) or not value:
            self.fail(f"{name or key!r} should be a non-empty string, got {_short(value)}")
        return value

    def positive(self, data: dict, key: str, name: str | None = None) -> float:
        value = self.get(data, key, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            self.fail(f"{name or key!r} should be a positive number, got {_short(value)}")
        return value

    def per_k(self, data: dict, key: str, name: str | None = None) -> dict:
        """{"1": s, "2": s, ...}: positive numbers keyed by the positions a forward covers, from 1."""
        name = name or key
        values = self.mapping(data, key, name)
        if not values:
            self.fail(f"{name!r} is empty")
        for k in values:
            if not k.isdigit() or int(k) < 1:
                self.fail(f"{name!r} has key {k!r}; its keys are numbers of positions, 1, 2, ...")
            self.positive(values, k, f"{name}.{k}")
        if "1" not in values:
            self.fail(f"{name!r} has no entry for one position (\"1\")")
        return values

    def measured_on(self, data: dict) -> None:
        where = self.mapping(data, "measured_on")
        self.text(where, "device", "measured_on.device")
        self.text(where, "device_name", "measured_on.device_name")


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- where a file was measured --------------------------------------------------------------------

def where(data: dict) -> str:
    """Where a stages or costs file was measured, for the book: device, dtype, profile, prompts."""
    on = data["measured_on"]
    device = ", ".join(str(x) for x in (on["device"], on.get("dtype")) if x)
    target, draft = _prompt_lengths(data)
    prompts = f"; prompts {target} (target) / {draft} (draft) tokens" if target and draft else (
        f"; target prompt {target} tokens" if target else "")
    return f"{on['device_name']} ({device}; profile {data['profile']}{prompts})"


def device_name(data: dict) -> str:
    """The short name of the device a file was measured on (e.g. `NVIDIA H200`, `x86_64`)."""
    return data["measured_on"]["device_name"]


def _prompt_lengths(data: dict) -> tuple[int | None, int | None]:
    if "target" in data and "draft" in data:  # a stages file
        return data["target"].get("prompt_tokens"), data["draft"].get("prompt_tokens")
    padding = data.get("prompt_padding") or {}
    target = (data.get("costs") or {}).get("prompt_tokens") or padding.get("target")
    return target, padding.get("draft")


def stages_c(stages: dict) -> tuple[float, str]:
    """c = T_draft_decode / T_target_decode of a stages file, with where it was measured."""
    return stages["c"], f"stages file: {where(stages)}"


def prefill_window(stages: dict) -> dict:
    """The speed-ratio study's prefill-window inputs (ms) from a stages file: each model's vision +
    prefill and decode step, the window the draft's shorter prefill opens, and where measured."""
    draft, target = stages["draft"], stages["target"]
    return {"t_vl_prefill": target["prefill_with_vision"], "t_egpt_prefill": draft["prefill_with_vision"],
            "t_vl_decode": target["decode_per_token"], "t_egpt_decode": draft["decode_per_token"],
            "window_ms": target["prefill_with_vision"] - draft["prefill_with_vision"],
            "target_visual_tokens": target["visual_tokens"], "draft_visual_tokens": draft["visual_tokens"],
            "measured_on": where(stages)}


# -- the cost models' inputs ----------------------------------------------------------------------

@dataclass(frozen=True)
class CostInputs:
    """The constants the cost models take, in seconds, and where each group was measured.

    `beside_draft` holds the target's prefill, decode step and verify forwards timed while the draft
    VLM works beside it (a costs file has them; the mini run's costs do not: None)."""
    t_vl_prefill: float
    t_vl_decode: float
    t_verify: dict[int, float]
    t_head: dict[str, float]
    t_egpt_prefill: float
    t_egpt_decode: float
    sources: dict[str, str]
    label: str
    from_file: bool
    variant: str = "eager"
    beside_draft: dict | None = None
    draft_slowdown: dict | None = None

    @property
    def machines(self) -> list[str]:
        """The distinct places the constants were measured (more than one: they are mixed)."""
        return list(dict.fromkeys(self.sources.values()))

    def verify(self, k: int, beside: bool = False) -> float:
        """Seconds of one target forward over k positions (alone, or beside the draft VLM)."""
        table = self.t_verify if not beside else self.beside_draft["verify_s"]
        if k not in table:
            raise KeyError(f"verify over {k} positions was not measured ({self.sources['verify forwards']} "
                           f"has k = 1..{max(table)}); measure again with --max-k {k}")
        return table[k]

    def constants_ms(self, gamma: int) -> list[dict]:
        """One row per constant the models use (at γ), in ms, with where it was measured."""
        rows = [
            ("P_vl (target vision + prefill)", self.t_vl_prefill, "target prefill and decode step"),
            ("P_egpt (draft vision + prefill)", self.t_egpt_prefill, "draft prefill and decode step"),
            ("D_vl (target decode step)", self.t_vl_decode, "target prefill and decode step"),
            ("D_egpt (draft decode step)", self.t_egpt_decode, "draft prefill and decode step"),
            ("A (L5F head step)", self.t_head["L5F"], "head steps"),
            (f"t_verify({gamma + 1}) (verify γ + 1 positions)", self.verify(gamma + 1), "verify forwards"),
        ]
        if self.beside_draft is not None:
            rows += [
                ("P_vl beside the draft VLM", self.beside_draft["prefill_s"], "target beside the draft VLM"),
                (f"t_verify({gamma + 1}) beside the draft VLM", self.verify(gamma + 1, beside=True),
                 "target beside the draft VLM"),
            ]
        return [{"constant": name, "ms": seconds * 1000, "measured on": self.sources[group]}
                for name, seconds, group in rows]

    def proxy(self, *, n_tokens: float, free_tokens: float, alpha_decode: float, head: str = "L5F") -> float:
        """The seeds' two-phase proxy (`costmodel.two_phase_speedup`) with these constants."""
        from xsd import costmodel

        return costmodel.two_phase_speedup(
            n_tokens=n_tokens, free_tokens=min(free_tokens, n_tokens), alpha_decode=alpha_decode,
            t_vl_prefill=self.t_vl_prefill, t_vl_decode=self.t_vl_decode, t_adapter=self.t_head[head],
            t_egpt_prefill=self.t_egpt_prefill)

    def honest(self, *, n_tokens: float, free_tokens: float, tau: float, gamma: int, head: str,
               draft_bound: bool, concurrent: bool = True, beside: str = "none", phase1: bool = True,
               free_from_token0: bool = False) -> dict:
        """The honest model (`costmodel.honest_two_phase_beside`) with these constants.

        `draft_bound`: charge the draft VLM's decode step (L5F waits for its states); `beside`: which
        of the target's calls run beside the draft VLM, at the slower cost measured so: "none",
        "prefill" (the draft stops when the target's prefill ends) or "all". `phase1=False`: a decoder
        without phase 1 (B1 or L5F alone): no phase-1 verify is charged and `free_tokens` must be 0,
        with the tokens counted as `free_from_token0` counts them (the prefill's token 0, then rounds);
        `free_from_token0`: see `costmodel.honest_two_phase`."""
        from xsd import costmodel

        if beside not in ("none", "prefill", "all"):
            raise ValueError(f"beside must be none, prefill or all, got {beside!r}")
        if beside != "none" and self.beside_draft is None:
            raise ValueError(f"the target's costs beside the draft VLM were not measured "
                             f"({self.sources['verify forwards']}); they come from a costs file")
        if not phase1 and free_tokens:
            raise ValueError(f"a decoder without phase 1 has no free tokens, got {free_tokens}")
        verify = self.verify(gamma + 1, beside=beside == "all")
        return costmodel.honest_two_phase_beside(
            n_tokens=n_tokens, free_tokens=free_tokens, tau=tau, gamma=gamma,
            t_vl_prefill=self.t_vl_prefill, t_vl_decode=self.t_vl_decode,
            t_verify_phase1=verify if phase1 else 0.0, t_verify=verify,
            free_from_token0=free_from_token0 or not phase1, t_head=self.t_head[head],
            t_egpt_prefill=self.t_egpt_prefill, t_egpt_decode=self.t_egpt_decode if draft_bound else 0.0,
            concurrent=concurrent,
            t_vl_prefill_sd=self.beside_draft["prefill_s"] if beside != "none" else None)


def method_charges(method: str, policy: str | None) -> dict:
    """How the honest model charges a live method (a label such as `l5f@3 wait`): its head, which of
    the target's calls run beside the draft VLM (`CostInputs.honest`'s `beside`) and whether L5F waits
    for the draft's states (`draft_bound`). b1 runs no draft VLM. Under `prefill-only` the draft stops
    when the target's prefill ends; under `pause-verify` it pauses during each verify forward, which
    the model cannot express: it charges the verify forwards alone and lets the draft keep decoding
    through them, so it is optimistic where the draft bounds the round."""
    if not method.startswith(("l5f", "two-phase")):
        return {"head": "B1", "beside": "none", "draft_bound": False}
    return {"head": "L5F", "beside": "prefill" if policy in ("prefill-only", "pause-verify") else "all",
            "draft_bound": policy in ("wait", "pause-verify")}


def cost_inputs(costs: dict | None = None, stages: dict | None = None, *, fallback_costs: dict | None = None,
                fallback_stages: dict | None = None, fallback_label: str = "this machine",
                static: bool = False, in_loop: bool = False) -> CostInputs:
    """The cost models' constants from a costs file and a stages file (either may be None), the
    rest from the mini run's own measurements.

    Where each comes from, first found:
      target prefill and decode step: the costs file, the stages file, `fallback_costs`;
      verify forwards, head steps, target beside the draft VLM: the costs file, `fallback_costs`
        (the latter has no costs beside the draft VLM: then None);
      draft prefill and decode step: the stages file, `fallback_stages`.
    `fallback_costs` is a decode benchmark's "costs" (seconds), `fallback_stages` a stage benchmark
    (ms), both measured on `fallback_label`. `static`: the costs file's static-KV-cache variant;
    `in_loop`: the fallback's costs as the live loop paid them where measured (`xsd.studies.call_costs.loop_cost`).
    """
    if static and costs is None:
        raise ValueError("the static-cache variant needs a costs file")
    beside = slowdown = None
    if costs is not None:
        section = "static_costs" if static else "costs"
        if section not in costs:
            raise CostsFileError(f"the costs file measured on {where(costs)} has no {section!r}")
        measured, costs_label = costs[section], where(costs)
        verify = {int(k): v for k, v in measured["verify_s"].items()}
        heads = dict(measured["head_step_s"])
        beside = {"prefill_s": measured["beside_draft"]["prefill_s"], "decode_s": measured["beside_draft"]["decode_s"],
                  "verify_s": {int(k): v for k, v in measured["beside_draft"]["verify_s"].items()}}
        slowdown = measured["draft_slowdown"]
        t_vl_prefill, t_vl_decode, target_label = measured["prefill_s"], measured["decode_s"], costs_label
    else:
        if fallback_costs is None:
            raise ValueError("no target costs: give a costs file or the mini run's decode benchmark costs")
        measured, costs_label = fallback_costs, fallback_label
        if in_loop:
            from xsd.studies.call_costs import loop_cost, loop_head_cost

            verify = {int(k): loop_cost(measured, k) for k in measured["verify_s"]}
            heads = {h: loop_head_cost(measured, h) for h in measured["head_step_s"]}
            t_vl_decode = verify[1]
        else:
            verify = {int(k): v for k, v in measured["verify_s"].items()}
            heads = dict(measured["head_step_s"])
            t_vl_decode = measured["decode_s"]
        t_vl_prefill, target_label = measured["prefill_s"], fallback_label
        if stages is not None:
            t_vl_prefill = stages["target"]["prefill_with_vision"] / 1000
            t_vl_decode = stages["target"]["decode_per_token"] / 1000
            target_label = where(stages)
    if stages is not None:
        draft, draft_label = stages["draft"], where(stages)
    elif fallback_stages is not None:
        draft, draft_label = fallback_stages["draft"], fallback_label
    else:
        raise ValueError("no draft timings: give a stages file or the mini run's stage benchmark")
    sources = {"target prefill and decode step": target_label, "verify forwards": costs_label,
               "head steps": costs_label, "draft prefill and decode step": draft_label}
    if beside is not None:
        sources["target beside the draft VLM"] = costs_label
    from_file = costs is not None or stages is not None
    return CostInputs(
        t_vl_prefill=t_vl_prefill, t_vl_decode=t_vl_decode, t_verify=verify, t_head=heads,
        t_egpt_prefill=draft["prefill_with_vision"] / 1000, t_egpt_decode=draft["decode_per_token"] / 1000,
        sources=sources, label=device_name(costs if costs is not None else stages) if from_file else fallback_label,
        from_file=from_file, variant="static" if static else "eager", beside_draft=beside, draft_slowdown=slowdown)


def machine_label(measured_on: dict | None, profile: str, default: str = "this machine") -> str:
    """Where the mini run's own measurements were made, from a result's `measured_on` if it has one."""
    if not measured_on:
        return f"the {profile} run on {default}"
    device = ", ".join(str(x) for x in (measured_on.get("device"), measured_on.get("dtype")) if x)
    return f"the {profile} run on {measured_on.get('device_name', default)} ({device})"
