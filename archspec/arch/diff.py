"""Field-level and cost-level differences between two specs. No torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archspec.arch.complexity import Complexity, complexity
from archspec.config.document import format_path
from archspec.spec.io import canonical_data
from archspec.spec.schema import ResNetSpec


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any  # ABSENT where the field is absent on that side
    after: Any


def field_changes(a: ResNetSpec, b: ResNetSpec) -> list[FieldChange]:
    """Every leaf value that differs between the canonical forms of `a` and `b`, in schema order."""
    left, right = _leaves(canonical_data(a)), _leaves(canonical_data(b))
    paths = [*left, *(path for path in right if path not in left)]
    return [
        FieldChange(format_path(path), left.get(path, ABSENT), right.get(path, ABSENT))
        for path in paths
        if left.get(path, ABSENT) != right.get(path, ABSENT)
    ]


ABSENT = object()  # a field one side does not have (a null value is None)


def _leaves(value: Any, path: tuple[str | int, ...] = ()) -> dict[tuple[str | int, ...], Any]:
    if isinstance(value, dict):
        out: dict[tuple[str | int, ...], Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, (*path, key)))
        return out
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out.update(_leaves(item, (*path, index)))
        return out
    return {path: value}


@dataclass(frozen=True)
class StageDelta:
    name: str
    before: tuple[int, int] | None  # (params, macs)
    after: tuple[int, int] | None


def stage_deltas(a: Complexity, b: Complexity) -> list[StageDelta]:
    """Per stage (stem, stage1.., head) params and MACs of both sides, aligned by name."""
    left = {stage.name: (stage.params, stage.macs) for stage in a.stages}
    right = {stage.name: (stage.params, stage.macs) for stage in b.stages}
    names = [s.name for s in a.stages if s.name != "head"]
    names += [s.name for s in b.stages if s.name not in names and s.name != "head"]
    return [StageDelta(name, left.get(name), right.get(name)) for name in [*names, "head"]]


def diff_report(a: ResNetSpec, b: ResNetSpec) -> str:
    """The text `archspec diff` prints."""
    lines = [f"--- {a.name}", f"+++ {b.name}", "fields:"]
    changes = field_changes(a, b)
    lines += [f"  {c.path}: {_show(c.before)} -> {_show(c.after)}" for c in changes] or ["  (none)"]
    ca, cb = complexity(a), complexity(b)
    rows = [("part", f"params {a.name}", f"params {b.name}", "delta", f"MACs {a.name}", f"MACs {b.name}", "delta")]
    for delta in [*stage_deltas(ca, cb), StageDelta("total", (ca.params, ca.macs), (cb.params, cb.macs))]:
        before, after = delta.before or (0, 0), delta.after or (0, 0)
        rows.append((delta.name, _count(delta.before, 0), _count(delta.after, 0), f"{after[0] - before[0]:+,}",
                     _count(delta.before, 1), _count(delta.after, 1), f"{after[1] - before[1]:+,}"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines.append("cost per part (MACs per sample at each spec's own input size):")
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  " + "  ".join(cells))
    return "\n".join(lines)


def _count(pair: tuple[int, int] | None, index: int) -> str:
    return "-" if pair is None else f"{pair[index]:,}"


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    return "null" if value is None else repr(value) if isinstance(value, str) else str(value)
