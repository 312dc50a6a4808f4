"""Safe YAML reading with source positions: specs, recipes, sweep files and --set values alike.

PyYAML's safe loader is used to parse (no Python tags, ever), but we walk its node
graph ourselves so that we can: refuse duplicate keys (PyYAML keeps the last one
silently), bound alias expansion (the "billion laughs" file), and remember the
line and column of every value so that a validation error can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from archspec.config.files import read_bounded
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
    raw = read_bounded(path, MAX_BYTES, SpecError, "specs and recipes")
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
