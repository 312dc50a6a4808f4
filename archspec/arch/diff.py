"""Field-level and cost-level differences between two specs. No torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

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
    """Every effective value that differs between `a` and `b`, in schema order: the deepest field where both
    sides are mappings (or lists), so `squeeze_excite: null` against `{ratio: 0.25}` is one change of the
    whole value.

    Stage blocks are compared as they take effect (the spec's `block` with the stage's overrides), and a
    stage's change is left out where it is the change of the spec's `block` itself, already listed.
    """
    left, right = effective_data(a), effective_data(b)
    changes = []
    for path, before, after in _differences(left, right):
        if path[0] == "stages" and len(path) > 3 and path[2] == "block":
            spec_level = ("block", *path[3:])
            if (before, after) == (_at(left, spec_level), _at(right, spec_level)):
                continue  # the same change as the spec's block
        changes.append(FieldChange(format_path(path), before, after))
    return changes


def effective_data(spec: ResNetSpec) -> dict[str, Any]:
    """The canonical form with every stage's block written out (as it takes effect)."""
    data = canonical_data(spec)
    for stage, model in zip(data["stages"], spec.stages, strict=True):
        stage.setdefault("block", canonical_data(spec.model_copy(update={"block": model.block}))["block"])
    _drop_new_defaults(spec, data)
    return data


def _drop_new_defaults(model: BaseModel, data: dict[str, Any]) -> None:
    """Leave out of `data` (the model's dump) each field added in a later schema version (`since`) that is at
    its default, as the spec hash does: a diff of two specs that do not use it does not show it."""
    for name, info in type(model).model_fields.items():
        if name not in data:
            continue
        value, extra = getattr(model, name), info.json_schema_extra
        if isinstance(extra, dict) and "since" in extra and value == info.default:
            del data[name]
        elif isinstance(value, BaseModel) and isinstance(data[name], dict):
            _drop_new_defaults(value, data[name])
        elif isinstance(value, list) and isinstance(data[name], list):
            for item, part in zip(value, data[name], strict=True):
                if isinstance(item, BaseModel) and isinstance(part, dict):
                    _drop_new_defaults(item, part)


ABSENT = object()  # a field one side does not have (a null value is None)


Path = tuple[str | int, ...]


def _differences(a: Any, b: Any, path: Path = ()) -> list[tuple[Path, Any, Any]]:
    """(path, before, after) where `a` and `b` differ, descending only where both sides are mappings or lists."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [*a, *(key for key in b if key not in a)]
        return [d for key in keys for d in _differences(a.get(key, ABSENT), b.get(key, ABSENT), (*path, key))]
    if isinstance(a, list) and isinstance(b, list):
        pad = [ABSENT] * abs(len(a) - len(b))
        pairs = zip([*a, *pad][: max(len(a), len(b))], [*b, *pad][: max(len(a), len(b))], strict=True)
        return [d for index, (x, y) in enumerate(pairs) for d in _differences(x, y, (*path, index))]
    return [] if a == b else [(path, a, b)]


def _at(data: Any, path: Path) -> Any:
    for key in path:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return ABSENT
    return data


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
