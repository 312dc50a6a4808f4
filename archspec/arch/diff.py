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
    """Every effective value that differs between `a` and `b`, in schema order.

    Stage blocks are compared as they take effect (the spec's `block` with the stage's overrides), and a
    stage's change is left out where it is the change of the spec's `block` itself, already listed.
    """
    left, right = _leaves(effective_data(a)), _leaves(effective_data(b))
    paths = [*left, *(path for path in right if path not in left)]
    changes = []
    for path in paths:
        before, after = left.get(path, ABSENT), right.get(path, ABSENT)
        if before == after:
            continue
        if path[0] == "stages" and len(path) > 3 and path[2] == "block":
            spec_level = ("block", *path[3:])
            if (before, after) == (left.get(spec_level, ABSENT), right.get(spec_level, ABSENT)):
                continue  # the same change as the spec's block
        changes.append(FieldChange(format_path(path), before, after))
    return changes


def effective_data(spec: ResNetSpec) -> dict[str, Any]:
    """The canonical form with every stage's block written out (as it takes effect)."""
    data = canonical_data(spec)
    for stage, model in zip(data["stages"], spec.stages, strict=True):
        stage.setdefault("block", canonical_data(spec.model_copy(update={"block": model.block}))["block"])
    return data


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
