"""Pydantic validation errors turned into one `file:line:col: field: message` line.

Generic: it knows Pydantic models and discriminated unions (a `kind` field), nothing of ResNets.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from archspec.config.document import Document, Path_
from archspec.errors import SpecError

M = TypeVar("M", bound=BaseModel)


def validate(doc: Document, model: type[M], what: str) -> M:
    """Validate a parsed document against a Pydantic model; errors point at file:line:col."""
    if doc.data is None:
        raise SpecError(f"{doc.source}: empty {what}: expected a mapping of {', '.join(model.model_fields)}")
    if not isinstance(doc.data, dict):
        raise doc.error((), f"a {what} must be a mapping of fields, got {type(doc.data).__name__}")
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        # A typo gives both "unknown field" and "missing field"; the unknown one says what to fix.
        errors = sorted(err.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
        path, message = describe_error(doc.data, errors[0], model)
        # a bad value in the spec's `block` also fails in every stage that inherits it: count it once
        distinct = {(e["type"], e["msg"], repr(e.get("input"))) for e in errors}
        more = f" (and {len(distinct) - 1} more)" if len(distinct) > 1 else ""
        raise doc.error(path, message + more) from None


def describe_error(data: Any, error: Any, model: type[BaseModel]) -> tuple[Path_, str]:
    """Turn one Pydantic error into (path in the data, readable message)."""
    path = _data_path(data, tuple(error["loc"]), _kind_tags(model))
    ctx = error.get("ctx") or {}
    if "archspec_loc" in ctx:
        return (*path, *ctx["archspec_loc"]), error["msg"]
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        field_name = path[-1]
        allowed = _allowed_fields(model, data, path[:-1])
        hint = difflib.get_close_matches(str(field_name), allowed, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return path, f"unknown field '{field_name}'{suggestion} (allowed: {', '.join(allowed)})"
    if kind == "missing":
        return path, "required field is missing"
    if kind == "union_tag_invalid":
        tags = ctx.get("expected_tags", "").replace("'", "")
        tag = ctx.get("discriminator", "kind").strip("'")
        named = [part for part in path if isinstance(part, str)]
        what = f"{named[-1]} {tag}" if named else tag
        given = value.get(tag) if isinstance(value, dict) else value
        return (*path, tag), f"unknown {what} {given!r}; choose from {tags}"
    if kind == "union_tag_not_found":
        return path, "needs a 'kind' field"
    msg = error["msg"]
    for old in ("Input should", "Value should", "String should", "List should"):
        msg = msg.replace(old, "must")
    return path, f"{msg}, got {value!r}"


def _data_path(data: Any, loc: tuple[Any, ...], tags: frozenset[str] = frozenset()) -> Path_:
    """Drop the parts of a Pydantic location that are not in the data (union tags, 'function-after')."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if part in tags and not (isinstance(node, dict) and part in node):
            continue  # the tag of a union member whose `kind` the data left to a default
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and not isinstance(part, int) and node.get("kind") == part:
            continue
        elif isinstance(part, str) and ("[" in part or "-" in part):
            continue
        else:
            path.append(part)
            node = None
    return tuple(path)


def _kind_tags(model: type[BaseModel]) -> frozenset[str]:
    """Every value of a `kind` field in the model's tree: the tags Pydantic puts in union locations."""
    tags: set[str] = set()
    seen: set[type[BaseModel]] = set()
    todo = [model]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, info in current.model_fields.items():
            if name == "kind":
                tags.update(str(arg) for arg in typing.get_args(info.annotation))
            todo.extend(_flatten(info.annotation))
    return frozenset(tags)


def _allowed_fields(model: type[BaseModel], data: Any, path: Path_) -> list[str]:
    """Field names of the (sub)model found at `path`, following the data for unions."""
    current: Any = model
    node = data
    for part in path:
        node = node.get(part) if isinstance(node, dict) else node[part] if isinstance(node, list) else None  # type: ignore[index]
        current = _field_model(current, part, node)
        if current is None:
            return []
    return list(current.model_fields) if current is not None else []


def _field_model(model: Any, part: str | int, node: Any) -> Any:
    if isinstance(part, int):
        return model
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
        return None
    annotation = model.model_fields[part].annotation
    candidates = _flatten(annotation)
    for candidate in candidates:
        kind_field = candidate.model_fields.get("kind")
        if kind_field is None or not isinstance(node, dict):
            return candidate
        if node.get("kind") in typing.get_args(kind_field.annotation):
            return candidate
    return candidates[0] if candidates else None


def _flatten(annotation: Any) -> list[type[BaseModel]]:
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in args:
        out.extend(_flatten(arg))
    return out
