"""Pydantic validation errors turned into one `file:line:col: field: message` line.

Generic: it knows Pydantic models and discriminated unions (a `kind` field), nothing of ResNets.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from archspec.config.text import QUOTE_LIMIT, clip, counted, did_you_mean, printable, quote
from archspec.config.text import kind_of as _kind_of
from archspec.errors import Problem, SpecError, and_more

if TYPE_CHECKING:
    from archspec.config.document import Document, Path_

M = TypeVar("M", bound=BaseModel)
# clip, counted, printable and quote live in config/text.py (document.py and files.py need them too)
__all__ = ["QUOTE_LIMIT", "UNKNOWN_TAG_HINTS", "clip", "counted", "describe_error", "printable", "quote", "validate"]

# What to add to an "unknown <field> kind" error, given the field's name and the kind written: the layer that
# owns the kinds says which package would have it (archspec/spec/kinds.py); this module knows no kinds.
UNKNOWN_TAG_HINTS: list[Callable[[str, str], str]] = []


def validate(doc: Document, model: type[M], what: str) -> M:
    """Validate a parsed document against a Pydantic model; errors point at file:line:col.

    The SpecError's message is the most telling problem (an unknown field before the missing one a typo also
    causes), with how many more there are; its `errors` list them all in file order (`--all-errors`).
    """
    if doc.data is None:
        raise SpecError(f"{doc.source}: empty {what}: expected a mapping of {', '.join(model.model_fields)}")
    if not isinstance(doc.data, dict):
        raise doc.error((), f"a {what} must be a mapping of fields, got {_kind_of(doc.data)}")
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        # A typo gives both "unknown field" and "missing field"; the unknown one says what to fix.
        errors = sorted(err.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
        problems: list[Problem] = []
        seen: set[tuple[Any, ...]] = set()
        for error in errors:
            # a bad value in the spec's `block` also fails in every stage that inherits it: count it once
            key = (error["type"], error["msg"], quote(error.get("input"), 200))
            if key in seen:
                continue
            seen.add(key)
            path, message = describe_error(doc.data, error, model)
            problems.extend(doc.problem(path, message)[1])
        first = problems[0].message
        raise SpecError(first + and_more(len(problems)), in_file_order(problems, doc)) from None


def in_file_order(problems: list[Problem], doc: Document) -> list[Problem]:
    """The user's own file by line and column, then each base file likewise, then the `--set`s as given."""
    sets = list(dict.fromkeys(origin for origin in doc.origins.values() if origin.startswith("--set")))

    def key(problem: Problem) -> tuple[int, str, int, int]:
        file = problem.file or ""
        if file in sets:
            return 2, "", sets.index(file), 0
        rank = 0 if file == doc.source else 1
        return rank, file if rank else "", problem.line or 0, problem.column or 0

    return sorted(problems, key=key)


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
        allowed = _tagged_fields(model, tuple(error["loc"])) or _allowed_fields(model, data, path[:-1])
        if len(path) == 1:  # the document's own keys beside the fields (a spec's extends, width, depth)
            allowed += [key for key in getattr(model, "document_keys", ()) if key not in allowed]
        suggestion = did_you_mean(str(field_name), allowed) or _dedent_hint(model, data, path)
        return path, f"unknown field {quote(field_name)}{suggestion} (allowed: {', '.join(allowed)})"
    if kind == "missing":
        return path, "required field is missing"
    if kind == "union_tag_invalid":
        tags = ctx.get("expected_tags", "").replace("'", "")
        tag = ctx.get("discriminator", "kind").strip("'")
        named = [part for part in path if isinstance(part, str)]
        what = f"{named[-1]} {tag}" if named else tag
        given = value.get(tag) if isinstance(value, dict) else value
        close = difflib.get_close_matches(str(given), tags.split(", "), n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        hints = "".join(hint(named[-1] if named else "", str(given)) for hint in UNKNOWN_TAG_HINTS)
        return (*path, tag), f"unknown {what} {quote(given)}; choose from {tags}{suggestion}{hints}"
    if kind == "union_tag_not_found":
        tags = _union_tags(model, data, path)
        choose = f": one of {', '.join(tags)}" if tags else ""
        return path, f"needs a 'kind' field{choose}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        fields = _allowed_fields(model, data, path)
        listed = f" ({', '.join(fields)})" if fields else ""
        return path, f"must be a mapping of fields{listed}, got {_kind_of(value)}"
    msg = error["msg"]
    for old in ("Input should", "Value should", "String should", "List should"):
        msg = msg.replace(old, "must")
    if kind in ("too_short", "too_long"):  # "List should have at least 1 item after validation, not 0"
        msg = msg.replace(" after validation", "").replace(", not ", "; it has ")
        return path, msg
    return path, f"{msg}, got {quote(value)}{_quoted_hint(kind, value)}"


def _quoted_hint(kind: str, value: Any) -> str:
    """A number or boolean written in quotes reads as a string in YAML: say so."""
    if not isinstance(value, str) or not kind.endswith(("int_type", "float_type", "bool_type", "int_parsing")):
        return ""
    try:  # the YAML resolver decides what the text would be without quotes
        unquoted = yaml.safe_load(value)
    except yaml.YAMLError:
        return ""
    if isinstance(unquoted, int | float) and not isinstance(unquoted, str):
        return f" (quotes make it a string: write {value.strip()} without quotes)"
    return ""


def _dedent_hint(model: type[BaseModel], data: Any, path: Path_) -> str:
    """For a key that belongs to a sibling mapping (indented too little), where to move it."""
    name, parent = path[-1], path[:-1]
    node: Any = data
    for part in parent:
        node = node.get(part) if isinstance(node, dict) else node[part] if isinstance(node, list) else None  # type: ignore[index]
    if not isinstance(node, dict):
        return ""
    owners = [key for key, value in node.items() if isinstance(value, dict | type(None)) and key != name
              and name in _allowed_fields(model, data, (*parent, key))]  # fmt: skip
    if not owners:
        return ""
    keys = list(node)
    before = [key for key in owners if keys.index(key) < keys.index(name)]
    owner = before[-1] if before else owners[0]
    return f"; it is a field of '{owner}': indent it under {owner}"


def _union_tags(model: type[BaseModel], data: Any, path: Path_) -> list[str]:
    """The `kind` values a discriminated union at `path` accepts, in the registry's order."""
    if not path:
        return []
    current: Any = model
    node = data
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else node[part] if isinstance(node, list) else None  # type: ignore[index]
        current = _field_model(current, part, node)
        if current is None:
            return []
    if not (isinstance(current, type) and issubclass(current, BaseModel)) or path[-1] not in current.model_fields:
        return []
    tags: list[str] = []
    for member in _flatten(current.model_fields[str(path[-1])].annotation):
        kind = member.model_fields.get("kind")
        if kind is not None:
            tags.extend(str(arg) for arg in typing.get_args(kind.annotation))
    return tags


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


def _tagged_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model that holds the last part of a Pydantic location, following the union tags the
    location names: what was validated, where the data alone cannot tell (a partial mapping without `kind`
    that a before-validator merged over a default); [] where the location does not single one out."""
    candidates: list[type[BaseModel]] = [model]
    for part in loc[:-1]:
        if isinstance(part, int) or "[" in str(part):  # a list index, or 'function-after[...]'
            continue
        tagged = [c for c in candidates if "kind" in c.model_fields and part in _tags(c)]
        if tagged:
            candidates = tagged
            continue
        owner = next((c for c in candidates if part in c.model_fields), None)
        if owner is None:
            return []
        candidates = _flatten(owner.model_fields[str(part)].annotation)
    return list(candidates[0].model_fields) if len(candidates) == 1 else []


def _tags(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(str(arg) for arg in typing.get_args(model.model_fields["kind"].annotation))


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
