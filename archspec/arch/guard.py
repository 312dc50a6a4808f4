"""Refuse specs that would exhaust the machine, before anything is allocated.

The figures come from the spec's outline (archspec.arch.complexity.totals: pure Python, instant for any
spec the schema admits, since each stage's repeated blocks are costed once). This module only computes: a
`Limits` value in (its defaults fit a 24 GiB machine with room to spare and admit resnet152 at 3x224x224 by
a wide margin), a ResourceError in neutral words out. Where limits come from (flags, environment) and what a
refusal tells the user to change (the value's `advice` hook) are the caller's policy: archspec/limits.py.

`memory_bytes` counts what a command allocates at once (its `Workload`): the weights (each copy), for
training their gradients, the optimizer's state and the activations autograd keeps, and the input batch;
for inference the largest feature maps a forward pass holds at the same time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from archspec.arch.complexity import totals
from archspec.arch.primitives import FP32_BYTES
from archspec.errors import ResourceError
from archspec.spec.schema import ResNetSpec

GIB = 1 << 30
INFERENCE_TENSORS = 3  # a forward pass holds a layer's input and output and the block input for the shortcut


@dataclass(frozen=True)
class Limit:
    field: str
    default: int
    unit: str
    kind: Literal["count", "bytes"] = "count"

    def format(self, value: int) -> str:
        return size_text(value) if self.kind == "bytes" else f"{value:,}"


LIMITS = (
    Limit("params", 2_000_000_000, "parameters"),
    Limit("macs", 1_000_000_000_000, "mult-adds per sample"),
    Limit("activation_bytes", 8 * GIB, "bytes of activations for the batch", "bytes"),
    Limit("memory_bytes", 12 * GIB, "bytes of memory in all (weights, gradients, optimizer state, inputs, "
          "activations)", "bytes"),
)  # fmt: skip

# How a refusal says to raise `limit`, in the caller's words (archspec.limits names its flags and variables);
# the bool says whether the command's own flags may be named (False: the check is of something they do not set).
Advice = Callable[[Limit, bool], str]


def python_advice(limit: Limit, flags: bool) -> str:
    """The advice of a Limits value made in Python, with no policy behind it."""
    return f"a higher Limits({limit.field}=...)"


@dataclass(frozen=True)
class Limits:
    params: int = LIMITS[0].default
    macs: int = LIMITS[1].default
    activation_bytes: int = LIMITS[2].default
    memory_bytes: int = LIMITS[3].default
    advice: Advice = field(default=python_advice, compare=False, repr=False)


_in_force: list[Callable[[], Limits]] = [Limits]


def in_force() -> Limits:
    """The limits of a caller that names none (`limits=None` below): the defaults, or what the application
    made the rule with `use_in_force` (archspec/__init__.py: ARCHSPEC_MAX_*, through archspec.limits)."""
    return _in_force[0]()


def use_in_force(provider: Callable[[], Limits]) -> None:
    """Make `provider` what `in_force` returns: the application's policy, asked on each check."""
    _in_force[0] = provider


@dataclass(frozen=True)
class Workload:
    """What a command holds in memory at once besides one copy of the weights."""

    batch_size: int = 1
    training: bool = False  # activations kept for backward, gradients, optimizer state
    optimizer_slots: int = 0  # tensors per parameter the optimizer keeps (SGD with momentum 1, AdamW 2)
    models: int = 1  # copies of the weights held at once (bench's variants)
    eval_batch_size: int = 0  # a training run's test-set batches (no gradients)


class Figures(Protocol):
    """A spec's totals for a batch: archspec.arch.complexity's Totals, or a whole Complexity report."""

    @property
    def name(self) -> str: ...
    @property
    def input(self) -> tuple[int, int, int]: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def params(self) -> int: ...
    @property
    def macs(self) -> int: ...
    @property
    def activation_bytes(self) -> int: ...
    @property
    def largest(self) -> int: ...


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 1 << 10, "mi": 1 << 20, "gi": GIB,
          "ti": 1 << 40}  # fmt: skip
_COUNT = re.compile(r"^([0-9.eE+-]+)\s*([kKmMgGtT]i?)?[bB]?$")


def parse_count(text: str, what: str) -> int:
    """'2e9', '2_000_000_000', '16GiB', '1MB', '512 KiB' -> int (SI units are powers of 1000, IEC of 1024);
    a ResourceError naming `what` otherwise."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    match = _COUNT.match(cleaned)
    try:
        if match is None:
            raise ValueError(text)
        value = float(match[1]) * _UNITS[(match[2] or "").lower()]
    except (ValueError, OverflowError):
        raise ResourceError(f"{what}: expected a count such as 2e9, 16GiB or 1MB, got {text[:40]!r}") from None
    if not math.isfinite(value) or value < 1:  # also refuses NaN, and 0.5 (which int() would make 0)
        raise ResourceError(f"{what}: expected a count of at least 1, got {text[:40]!r}")
    return int(value)


def size_text(value: int) -> str:
    """Bytes in IEC units, as parse_count reads them: 16 GiB, 1.5 MiB, 512 B."""
    for unit, size in (("TiB", 1 << 40), ("GiB", GIB), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.4g} {unit}"
    return f"{value} B"


def footprint(figures: Figures, workload: Workload) -> tuple[int, int]:
    """(activation bytes, memory bytes) the workload holds at its peak; `figures` are for its batch size."""
    weights = figures.params * FP32_BYTES
    sample = math.prod(figures.input) * FP32_BYTES

    def forward(batch: int) -> int:  # inference: the input batch and the live feature maps
        return batch * (sample + INFERENCE_TENSORS * figures.largest * FP32_BYTES)

    if not workload.training:
        activations = forward(figures.batch_size) - figures.batch_size * sample
        return activations, workload.models * weights + forward(figures.batch_size)
    state = weights * (1 + workload.optimizer_slots)  # gradients and the optimizer's tensors
    step = figures.activation_bytes + figures.batch_size * sample
    evaluation = forward(workload.eval_batch_size)
    return figures.activation_bytes, workload.models * weights + state + max(step, evaluation)


def check(
    figures: Figures, limits: Limits | None = None, workload: Workload | None = None, flags: bool = True
) -> dict[str, int]:
    """The figures checked against each limit (default: `in_force()`), by limit field; ResourceError if one
    is over, in neutral words plus `limits.advice(limit, flags)` on how to raise it.

    Without a `workload`, the figures are checked as they are (activations kept for training) and memory,
    which depends on what the command does, is not.
    """
    limits = limits if limits is not None else in_force()
    values = {"params": figures.params, "macs": figures.macs // figures.batch_size,
              "activation_bytes": figures.activation_bytes}  # fmt: skip
    if workload is not None:
        values["activation_bytes"], values["memory_bytes"] = footprint(figures, workload)
    for limit in LIMITS:
        if limit.field not in values:
            continue
        figure, allowed = values[limit.field], getattr(limits, limit.field)
        if figure > allowed:
            raise ResourceError(
                f"{figures.name}: {figure:,} {limit.unit} exceeds the limit of {allowed:,}"
                f"{' (' + limit.format(allowed) + ')' if limit.kind == 'bytes' else ''}; "
                f"raise it with {limits.advice(limit, flags)}"
            )
    return values


def check_spec(spec: ResNetSpec, limits: Limits | None = None, workload: Workload | None = None,
               flags: bool = True) -> dict[str, int]:  # fmt: skip
    """Refuse (ResourceError) `spec` if what `workload` does with it would exceed `limits` (see `check`, whose
    figures it returns); instant for any spec (nothing is lowered block by block, nothing allocated)."""
    workload = workload or Workload()
    return check(totals(spec, batch_size=workload.batch_size), limits, workload, flags)
