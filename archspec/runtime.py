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


def resolve_device(name: str | None = None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ArchspecError(f"--device {name}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ArchspecError(f"--device {name}: CUDA is not available on this machine")
    return device


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
