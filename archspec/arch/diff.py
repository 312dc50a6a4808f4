"""Field-level and cost-level differences between two specs. No torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archspec.arch.complexity import Complexity
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
