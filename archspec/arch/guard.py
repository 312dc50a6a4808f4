"""Refuse specs that would exhaust the machine, before anything is allocated.

The figures come from the analytic complexity report (pure Python, instant even for a
spec of 10^10 parameters). Limits come from arguments, else environment variables,
else defaults that admit resnet152 at 3x224x224 with room to spare.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from archspec.arch.complexity import Complexity
from archspec.errors import ResourceError

GIB = 1 << 30


@dataclass(frozen=True)
class Limit:
    field: str
    env: str
    flag: str
    default: int
    unit: str


LIMITS = (
    Limit("params", "ARCHSPEC_MAX_PARAMS", "--max-params", 2_000_000_000, "parameters"),
    Limit("macs", "ARCHSPEC_MAX_MACS", "--max-macs", 1_000_000_000_000, "mult-adds per sample"),
    Limit(
        "activation_bytes",
        "ARCHSPEC_MAX_ACTIVATION_BYTES",
        "--max-activation-bytes",
        16 * GIB,
        "bytes of activations for the batch",
    ),
)


@dataclass(frozen=True)
class Limits:
    params: int
    macs: int
    activation_bytes: int

    @classmethod
    def resolve(cls, params: int | None = None, macs: int | None = None, activation_bytes: int | None = None) -> Limits:
        """Explicit values win, then ARCHSPEC_MAX_* environment variables, then the defaults."""
        given = {"params": params, "macs": macs, "activation_bytes": activation_bytes}
        values = {}
        for limit in LIMITS:
            value = given[limit.field]
            if value is None:
                text = os.environ.get(limit.env)
                value = parse_count(text, limit.env) if text else limit.default
            values[limit.field] = value
        return cls(**values)


def parse_count(text: str, what: str) -> int:
    """'2e9', '2_000_000_000', '16GiB' -> int; a ResourceError naming `what` otherwise."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    scale = 1
    for suffix, factor in (("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", GIB), ("TiB", 1 << 40)):
        if cleaned.endswith(suffix):
            cleaned, scale = cleaned[: -len(suffix)], factor
    try:
        value = float(cleaned) * scale
    except ValueError:
        raise ResourceError(f"{what}: expected a count such as 2e9 or 16GiB, got {text!r}") from None
    if not value >= 1 or value == float("inf"):  # also refuses NaN, and 0.5 (which int() would make 0)
        raise ResourceError(f"{what}: expected a count of at least 1, got {text!r}")
    return int(value)


def check(report: Complexity, limits: Limits | None = None) -> None:
    """Raise ResourceError if the report exceeds a limit; the message says how to raise it."""
    limits = limits or Limits.resolve()
    figures = {
        "params": report.params,
        "macs": report.macs // report.batch_size,
        "activation_bytes": report.activation_bytes,
    }
    for limit in LIMITS:
        figure, allowed = figures[limit.field], getattr(limits, limit.field)
        if figure > allowed:
            raise ResourceError(
                f"{report.name}: {figure:,} {limit.unit} exceeds the limit of {allowed:,}; "
                f"raise it with {limit.flag} or {limit.env}"
            )
