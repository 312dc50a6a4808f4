"""Where and how torch runs: the device, the precision (autocast), channels_last, native-bf16 detection.

The one place that decides these, for training, evaluation, inference and benchmarks alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch import nn

from archspec.errors import ArchspecError

M = TypeVar("M", bound=nn.Module)


def available_devices() -> list[str]:
    """The devices torch can use on this machine, as `--device` spells them."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(name: str | None = None) -> torch.device:
    """The device named by `--device` (default: cuda when available), or a one-line error listing those here."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    here = available_devices()
    has = f"this machine has {', '.join(here)}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ArchspecError(f"--device {name}: not a device name; {has}") from None
    if device.type == "cuda" and torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count():
        return device
    if device.type == "cpu" or (device.type == "mps" and "mps" in here):
        return device
    raise ArchspecError(f"--device {name}: not available; {has}")


def cpu_has_native_bf16() -> bool:
    """True on CPUs with AVX512-BF16 or AMX, where oneDNN runs bf16 convolutions natively."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())  # type: ignore[no-untyped-call]


def resolve_precision(precision: str, device: torch.device) -> tuple[torch.dtype | None, str]:
    """The autocast dtype (None: plain fp32) and a one-line reason."""
    if precision == "fp32":
        return None, "fp32"
    if precision == "bf16":
        return torch.bfloat16, "bf16 autocast"
    if precision == "fp16":
        return torch.float16, "fp16 autocast" + (" with gradient scaling" if device.type == "cuda" else "")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, "bf16 autocast (auto: the GPU supports bf16)"
        return None, "fp32 (auto: the GPU has no bf16)"
    if cpu_has_native_bf16():
        return torch.bfloat16, "bf16 autocast (auto: the CPU has native bf16)"
    return None, "fp32 (auto: this CPU has no native bf16, where bf16 would be emulated and slower)"


def precision_warning(precision: str, device: torch.device) -> str | None:
    """One line when an explicitly chosen precision will be slower than fp32 on this device, else None."""
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        return (
            "warning: precision bf16 on this CPU is emulated (no AVX512-BF16 or AMX) and trains several times "
            "slower than fp32; use precision: auto or fp32 unless you need bf16's numerics"
        )
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def bf16_is_fast() -> bool:
    """Whether this CPU has native bf16 matrix instructions (AVX-512 BF16 or AMX); elsewhere bf16 is emulated."""
    return cpu_has_native_bf16()


def to_channels_last(model: M) -> M:
    """`model.to(memory_format=torch.channels_last)`: NHWC convolutions, faster with oneDNN on CPUs."""
    return model.to(memory_format=torch.channels_last)  # type: ignore[call-overload, no-any-return]


@contextmanager
def cudnn_benchmark(device: torch.device) -> Iterator[None]:
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = device.type == "cuda"
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous
