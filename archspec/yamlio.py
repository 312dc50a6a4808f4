"""Safe YAML reading with source positions, for specs and recipes alike.

PyYAML's safe loader is used to parse (no Python tags, ever), but we walk its node
graph ourselves so that we can: refuse duplicate keys (PyYAML keeps the last one
silently), bound alias expansion (the "billion laughs" file), and remember the
line and column of every value so that a validation error can point at it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from archspec.errors import SpecError

MAX_BYTES = 1 << 20
MAX_NODES = 20_000

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass
class Document:
    """Parsed YAML data plus where each value came from."""

    source: str
    data: Any
    marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    # Where a value came from when not from `source` (composed specs: a base file, a --set option).
    origins: dict[Path_, str] = field(default_factory=dict)

    def where(self, path: Path_) -> str:
        """`file:line:col` of the deepest value on `path` that the document has."""
        for end in range(len(path), -1, -1):
            key = path[:end]
            source, mark = self.origins.get(key, self.source), self.marks.get(key)
            if mark is not None:
                return f"{source}:{mark[0]}:{mark[1]}"
            if key in self.origins:
                return source
        return self.source

    def error(self, path: Path_, message: str) -> SpecError:
        prefix = f"{format_path(path)}: " if path else ""
        return SpecError(f"{self.where(path)}: {prefix}{message}")


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_text(path: Path) -> str:
    """Read a small UTF-8 text file, or raise SpecError naming it."""
    try:
        with path.open("rb") as handle:  # read at most one byte past the limit: /dev/zero or a pipe ends too
            raw = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise SpecError(f"{path}: cannot read: {err.strerror or err}") from None
    if len(raw) > MAX_BYTES:
        raise SpecError(f"{path}: file is over {MAX_BYTES:,} bytes, the limit for specs and recipes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise SpecError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})") from None


def parse(text: str, source: str) -> Document:
    """Parse YAML text into plain dicts, lists and scalars with their positions."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError(f"{source}: text is over {MAX_BYTES:,} bytes; specs and recipes are limited to that")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        what = " ".join(str(part) for part in (err.context, err.problem) if part)
        raise SpecError(f"{where}: invalid YAML: {what}") from None
    except yaml.reader.ReaderError as err:  # control characters: a position, no mark
        line = text.count("\n", 0, err.position) + 1
        column = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        what = f"control character U+{err.character:04X} is not allowed"
        raise SpecError(f"{source}:{line}:{column}: invalid YAML: {what}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{source}: invalid YAML: {' '.join(str(err).split())}") from None
    doc = Document(source, None)
    if node is None:
        return doc
    walker = _Walker(doc)
    doc.data = walker.convert(node, ())
    return doc


class _Walker:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0
        self.scalars = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, message: str) -> SpecError:
        return SpecError(f"{self.doc.source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}: {message}")

    def unsupported(self, node: yaml.Node) -> SpecError:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        return self.fail(node, f"unsupported YAML tag {tag!r}: archspec reads plain YAML only (no Python objects)")

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, f"document expands to over {MAX_NODES:,} values (YAML alias bomb?)")
        self.doc.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                raise self.unsupported(node)
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise self.unsupported(node)
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag not in _PLAIN_TAGS:
            raise self.unsupported(node)
        try:
            return self.scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError) as err:
            raise self.fail(node, f"invalid value {node.value!r}: {err}") from None

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:  # `<<: *base`: the base's keys, explicit keys win
                bases = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for base in bases:
                    if not isinstance(base, yaml.MappingNode):
                        raise self.fail(base, "a merge key (<<) needs a mapping or a list of mappings")
                    merged.extend(base.value)
                continue
            key = self.key(key_node)
            if key in out:
                raise self.fail(key_node, f"duplicate key {key!r} (YAML would silently keep only the last)")
            self.doc.marks[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.convert(value_node, (*path, key))
        for key_node, value_node in merged:
            key = self.key(key_node)
            if key not in out:
                out[key] = self.convert(value_node, (*path, key))
        return out

    def key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in _PLAIN_TAGS:
            raise self.fail(node, "mapping keys must be plain scalars")
        return self.scalars.construct_object(node)


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
    import typing

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
            todo.extend(_flatten(info.annotation, typing))
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
    import typing

    if isinstance(part, int):
        return model
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
        return None
    annotation = model.model_fields[part].annotation
    candidates = _flatten(annotation, typing)
    for candidate in candidates:
        kind_field = candidate.model_fields.get("kind")
        if kind_field is None or not isinstance(node, dict):
            return candidate
        if node.get("kind") in typing.get_args(kind_field.annotation):
            return candidate
    return candidates[0] if candidates else None


def _flatten(annotation: Any, typing: Any) -> list[type[BaseModel]]:
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in args:
        out.extend(_flatten(arg, typing))
    return out
