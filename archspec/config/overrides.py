"""The one `PATH=VALUE` override grammar: `--set stages[2].blocks=8`, `--set optimizer.lr=0.1`.

PATH is a field name followed by `.name` and `[index]` parts; VALUE is read as YAML by the same
hardened reader as files. Specs, recipes, sweep spaces and everything else that takes overrides use
this module, so they all take the same paths and give the same errors. Each value remembers the
override it came from, so a validation error names the `--set` at fault.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from archspec.config.document import Document, Path_, format_path, parse
from archspec.config.merge import overlay
from archspec.config.text import clip
from archspec.errors import SpecError

_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\[\d+\]")
Located = dict[Path_, tuple[str, tuple[int, int] | None]]


@dataclass(frozen=True)
class Override:
    path: Path_
    value: Any
    origin: str  # `--set PATH=VALUE`, as errors quote it


def parse_path(text: str, origin: str) -> Path_:
    """`stages[2].blocks` -> ("stages", 2, "blocks"); SpecError naming `origin` otherwise."""
    tokens = _PART.findall(text)
    rebuilt = "".join(t if t.startswith("[") or i == 0 else f".{t}" for i, t in enumerate(tokens))
    if not tokens or rebuilt != text.strip():
        raise SpecError(f"{origin}: expected PATH=VALUE with a dotted path, such as stages[2].blocks=8 or epochs=2")
    if tokens[0].startswith("["):
        raise SpecError(f"{origin}: a path starts with a field name, such as stages[2].blocks=8")
    return tuple(int(token[1:-1]) if token.startswith("[") else token for token in tokens)


def parse_override(text: str, origin: str | None = None) -> Override:
    """One `PATH=VALUE` text; an empty VALUE is null. `origin` names it in errors (default `--set TEXT`)."""
    origin = origin or f"--set {clip(text, 80)}"  # errors quote it: one line, however long or multi-line the value
    name, sep, raw = text.partition("=")
    if not sep:
        raise SpecError(f"{origin}: expected PATH=VALUE with a dotted path, such as stages[2].blocks=8 or epochs=2")
    path = parse_path(name, origin)
    value = parse(raw, origin).data  # the same hardened reader as files: no tags, no duplicate keys
    return Override(path, value, origin)


def assign(data: dict[str, Any], path: Path_, value: Any, origin: str) -> None:
    """Put `value` at `path` in `data`, creating missing mappings on the way.

    Setting a mapping's `kind` to another kind follows the one kind-switch rule (config.merge): the
    mapping starts afresh, as with `extends` and stage overrides.
    """
    node: Any = data
    created = False  # whether `node` is a mapping this assignment made up (the path's field is not there)
    for depth, part in enumerate(path):
        where = format_path(path[:depth]) or "the top level"
        if isinstance(part, int):
            if created:
                raise SpecError(f"{origin}: there is no list {where!r} to index with [{part}]; check the field name")
            if not isinstance(node, list):
                raise SpecError(f"{origin}: {where} is not a list, so [{part}] does not apply")
            if part >= len(node):
                raise SpecError(f"{origin}: {where} has {len(node)} items (indices 0-{len(node) - 1}); no [{part}]")
        elif not isinstance(node, dict):
            raise SpecError(f"{origin}: {where} is not a mapping, so .{part} does not apply")
        if depth == len(path) - 1:
            if part == "kind" and isinstance(node, dict):
                switched = overlay(dict(node), {"kind": value})
                node.clear()
                node.update(switched)
            else:
                node[part] = value
        else:
            created = isinstance(node, dict) and part not in node
            if created:
                node[part] = {}  # e.g. a stage's `block` left to the spec's default
            node = node[part]


def locate(doc: Document) -> Located:
    """Where each value of `doc` came from: (source, line and column if known)."""
    paths = set(doc.marks) | set(doc.origins)
    return {path: (doc.origins.get(path, doc.source), doc.marks.get(path)) for path in paths}


def located_document(source: str, data: Any, located: Located) -> Document:
    marks = {path: mark for path, (_, mark) in located.items() if mark is not None}
    return Document(source, data, marks, {path: origin for path, (origin, _) in located.items()})


def apply_overrides(doc: Document, texts: Sequence[str | Override]) -> Document:
    """`doc` with each `PATH=VALUE` of `texts` applied in order; values keep the override they came from.

    An item may also be a parsed `Override` (a sweep's sampled value: a Python value, not YAML text)."""
    if not texts or not isinstance(doc.data, dict):
        return doc
    located = locate(doc)
    data = copy.deepcopy(doc.data)
    for text in texts:
        item = text if isinstance(text, Override) else parse_override(text)
        assign(data, item.path, item.value, item.origin)
        path = item.path
        scope = path[:-1] if path[-1] == "kind" and len(path) > 1 else path  # a new kind replaces its mapping
        located = {p: w for p, w in located.items() if p[: len(scope)] != scope}
        for end in range(1, len(path) + 1):  # a path the file lacks is the override's, down from where it starts
            located.setdefault(path[:end], (item.origin, None))
    return located_document(doc.source, data, located)
