"""Where the models run, and clocks that wait for them.

Every command that runs a model takes `--device` (and a profile may set `models.device`):
`auto` picks CUDA when there is one for the profiles whose models need it (`full`, `shapes`)
and the CPU for the models this artifact trains (`mini`, `smoke`). A GPU runs its kernels
asynchronously, so a timing read straight after a call measures only the launch: `now(device)`
synchronises with the device before it reads the clock, and every timing in the package reads
its clock through it. `describe` is what results record beside every timing.
"""
from __future__ import annotations

import platform
import time

import torch


class DeviceError(ValueError):
    """A device that does not exist here or cannot be used."""


def resolve(device: str | torch.device | None, profile=None) -> torch.device:
    """The torch device for `device` ("auto", "cpu", "cuda", "cuda:1", ...; None is auto)."""
    name = str(device or (getattr(profile.models, "device", "auto") if profile is not None else "auto"))
    if name == "auto":
        needs_gpu = profile is not None and not profile.models.trained_here
        return torch.device("cuda" if needs_gpu and torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(name)
    except RuntimeError as error:
        raise DeviceError(f"unknown device {name!r}: {error}; give cpu, cuda, cuda:N or auto") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but torch sees no CUDA device on this machine")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} asked for, but this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s)")
    elif chosen.type != "cpu":
        raise DeviceError(f"device {name!r} is not supported; give cpu, cuda, cuda:N or auto")
    return chosen


def synchronize(device: torch.device | str) -> None:
    """Wait until every kernel queued on `device` has run (nothing to wait for on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def now(device: torch.device | str = "cpu") -> float:
    """`time.perf_counter()` after the device has finished its queued work."""
    synchronize(device)
    return time.perf_counter()


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether `device` computes bf16 matrix products in hardware. A CPU without bf16 instructions
    (AVX2 only, as many AMD EPYC and older Intel parts) emulates them: a mini training step under
    bf16 autocast then runs 6-11x slower than in float32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def cpu_summary() -> str:
    """The CPU in one line, for pages that report timings: its model name, the vector instructions
    torch's kernels use on it, and whether it has bf16 in hardware."""
    name = _cpu_model_name() or platform.processor() or platform.machine()
    bf16 = "yes" if native_bf16("cpu") else "no"
    return f"{name} (torch kernels: {torch.backends.cpu.get_cpu_capability()}; bf16 in hardware: {bf16})"


def _cpu_model_name() -> str | None:
    """Linux's name for the CPU (/proc/cpuinfo), or None where there is none."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), None)
    except OSError:
        return None


def dtype_of(name: str) -> torch.dtype:
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise DeviceError(f"unknown dtype {name!r}; give e.g. float32, bfloat16 or float16")
    return value


def describe(device: torch.device | str, dtype: torch.dtype | str | None = None, threads: dict | None = None) -> dict:
    """What a timing was measured on: device, its name, dtype, threads and the library versions."""
    import transformers

    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    info = {"device": str(device), "device_name": name, "torch": torch.__version__,
            "transformers": transformers.__version__, "torch_threads": torch.get_num_threads()}
    if dtype is not None:
        info["dtype"] = str(dtype).replace("torch.", "")
    if threads is not None:
        info["threads"] = threads
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
    return info


def peak_memory_gb(device: torch.device | str) -> float | None:
    """The most memory this process's tensors held on a GPU so far (None on the CPU)."""
    device = torch.device(device)
    return torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None


def model_device(model) -> torch.device:
    """The device a model's parameters live on."""
    return next(model.parameters()).device
