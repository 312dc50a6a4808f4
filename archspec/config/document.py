"""Safe YAML reading with source positions: specs, recipes, sweep files and --set values alike.

PyYAML's safe loader is used to parse (no Python tags, ever), but we walk its node
graph ourselves so that we can: refuse duplicate keys (PyYAML keeps the last one
silently), bound alias expansion (the "billion laughs" file) and nesting depth (a deep
or self-referencing document would otherwise exhaust Python's stack), and remember the
line and column of every value so that a validation error can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from archspec.config.files import read_bounded
from archspec.config.text import clip, quote
from archspec.errors import Problem, SpecError

MAX_BYTES = 1 << 20
MAX_NODES = 20_000
MAX_DEPTH = 32  # nesting levels; a spec needs 5 (stages[2].block.shortcut.kind)

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

    def position(self, path: Path_) -> tuple[str, int | None, int | None]:
        """(file, line, column) of the deepest value on `path` that the document has."""
        for end in range(len(path), -1, -1):
            key = path[:end]
            source, mark = self.origins.get(key, self.source), self.marks.get(key)
            if mark is not None:
                return source, mark[0], mark[1]
            if key in self.origins:
                return source, None, None
        return self.source, None, None

    def where(self, path: Path_) -> str:
        """`file:line:col` of the deepest value on `path` that the document has."""
        return _where(*self.position(path))

    def error(self, path: Path_, message: str, blame: Path_ = ("extends",)) -> SpecError:
        """A SpecError at `path`. Where the value came from a base file, the user's own file comes first, at
        `blame` if the user wrote it, else at its `extends`: `mine.yaml:1:1: extends: base.yaml:3:8: ...`."""
        return SpecError(*self.problem(path, message, blame))

    def problem(self, path: Path_, message: str, blame: Path_ = ("extends",)) -> tuple[str, list[Problem]]:
        source, line, column = self.position(path)
        text = f"{format_path(path)}: {message}" if path else message
        full = f"{_where(source, line, column)}: {text}"
        if source != self.source and not source.startswith("--set"):
            own = blame if self.origins.get(blame, self.source) == self.source and blame in self.marks else None
            own = own or (("extends",) if ("extends",) in self.marks else None)
            if own is not None:
                full = f"{self.where(own)}: {format_path(own)}: {full}"
        return full, [Problem(full, source, line, column, format_path(path), message)]


def _where(source: str, line: int | None, column: int | None) -> str:
    return source if line is None else f"{source}:{line}:{column}"


def format_path(path: Path_) -> str:
    """`stages[2].block.kind`; a key that is not a plain name is clipped to one short printable line."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = clip(str(part))
            out += f".{name}" if out else name
    return out


def read_text(path: Path) -> str:
    """Read a small UTF-8 text file, or raise SpecError naming it."""
    raw = read_bounded(path, MAX_BYTES, SpecError, "specs and recipes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise SpecError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})") from None


class _Loader(yaml.SafeLoader):
    """PyYAML's safe composer with a bound on nesting: its recursion would otherwise overflow Python's stack."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self.depth -= 1


def parse(text: str, source: str) -> Document:
    """Parse YAML text into plain dicts, lists and scalars with their positions."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError(f"{source}: text is over {MAX_BYTES:,} bytes; specs and recipes are limited to that")
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise SpecError(f"{where}: invalid YAML: {yaml_problem(err)}") from None
    except yaml.reader.ReaderError as err:  # control characters: a position, no mark
        line = text.count("\n", 0, err.position) + 1
        column = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        what = f"control character U+{err.character:04X} is not allowed"
        raise SpecError(f"{source}:{line}:{column}: invalid YAML: {what}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{source}: invalid YAML: {clip(' '.join(str(err).split()), 200)}") from None
    except RecursionError:  # the bound above keeps PyYAML well inside the stack; this is the last resort
        raise SpecError(f"{source}: invalid YAML: nested too deeply") from None
    doc = Document(source, None)
    if node is None:
        return doc
    walker = _Walker(doc)
    doc.data = walker.convert(node, ())
    return doc


# PyYAML's parser vocabulary ("<block end>", "simple key") said in the terms of the file a user wrote.
_PROBLEMS = (
    ("found character '\\t' that cannot start any token", "a tab character: YAML indents with spaces only"),
    ("mapping values are not allowed here",
     "a ':' where a plain value was expected: a key indented too far, or a value containing ': ' that needs quotes"),
    ("could not find expected ':'", "a line with no ':' inside a mapping: write KEY: VALUE, or fix its indentation"),
    ("expected ',' or '}'", "a '{' mapping is not closed with '}', or two of its items lack a ',' between them"),
    ("expected ',' or ']'", "a '[' list is not closed with ']', or two of its items lack a ',' between them"),
    ("expected a single document", "a spec or recipe is a single document; remove the second '---' and what follows"),
    ("found unexpected end of stream", "a quote is opened and never closed"),
    ("found undefined alias", "an alias (*name) with no anchor (&name) before it"),
)  # fmt: skip


def yaml_problem(err: yaml.MarkedYAMLError) -> str:
    """What is wrong, in the user's terms; PyYAML's own words where we have none better."""
    problem, context = str(err.problem or ""), str(err.context or "")
    for fragment, text in _PROBLEMS:
        if fragment in problem:
            return text
    if problem.startswith(("expected <block end>", "did not find expected key", "did not find expected '-'")):
        what = "list" if "collection" in context or "sequence" in problem else "mapping"
        start = f" (which starts at line {err.context_mark.line + 1})" if err.context_mark else ""
        return (f"this line is indented differently from the {what} it belongs to{start}; indent it exactly "
                "like the keys (or '-' items) above it, or further to nest it under one")  # fmt: skip
    if "nested deeper" in problem:
        return problem
    return " ".join(part for part in (context, problem) if part)


class _Walker:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0
        self.scalars = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, message: str) -> SpecError:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        full = f"{self.doc.source}:{line}:{column}: {message}"
        return SpecError(full, [Problem(full, self.doc.source, line, column, "", message)])

    def unsupported(self, node: yaml.Node) -> SpecError:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        return self.fail(node, f"unsupported YAML tag {tag!r}: archspec reads plain YAML only (no Python objects)")

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, f"document expands to over {MAX_NODES:,} values (YAML alias bomb?)")
        if len(path) > MAX_DEPTH:  # PyYAML's composer is bounded; an alias inside its own anchor is not
            raise self.fail(node, f"nested deeper than {MAX_DEPTH} levels (an alias inside its own anchor?)")
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
            raise self.fail(node, f"invalid value {quote(node.value)}: {clip(str(err), 100)}") from None

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
