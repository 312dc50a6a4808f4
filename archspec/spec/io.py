"""Read, dump and hash specs. No torch import; shapes are checked one layer down (archspec.arch.validate)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from archspec.config.diagnostics import validate
from archspec.config.document import Document, parse
from archspec.spec.compose import compose, load_document
from archspec.spec.schema import ResNetSpec


def read_spec(source: str | Path, sets: Sequence[str] = ()) -> tuple[ResNetSpec, Document]:
    """A spec that passes the schema, from a path, a preset name or YAML text, with `sets` applied; and its
    located document (for errors found later, such as shapes that do not fit: archspec.arch.validate)."""
    doc = load_document(source, sets)
    return validate(doc, ResNetSpec, "spec"), doc


def text_document(text: str, source: str = "<string>") -> Document:
    """YAML text of a spec (a checkpoint's stored spec, say), composed like a file in the current folder."""
    return compose(parse(text, source), Path.cwd(), ())


def dump_spec(spec: ResNetSpec) -> str:
    """The canonical YAML of a spec: every field resolved, in schema order.

    A stage's block settings are written only where they differ from the spec's `block`.
    """
    return yaml.safe_dump(canonical_data(spec), sort_keys=False, default_flow_style=None, width=100)


def canonical_data(spec: ResNetSpec) -> dict[str, Any]:
    """The canonical form as plain data: defaults resolved, inherited stage blocks left out."""
    data: dict[str, Any] = _kind_first(spec.model_dump(mode="json"))
    for stage in data["stages"]:
        if stage["block"] == data["block"]:
            del stage["block"]
    return data


def _kind_first(value: Any) -> Any:
    """Put a mapping's `kind` key first, where readers look for it."""
    if isinstance(value, list):
        return [_kind_first(item) for item in value]
    if not isinstance(value, dict):
        return value
    ordered = {"kind": value["kind"]} if "kind" in value else {}
    ordered.update((key, _kind_first(item)) for key, item in value.items() if key != "kind")
    return ordered


def spec_hash(spec: ResNetSpec) -> str:
    """A stable hash of the architecture: the canonical form without name and description."""
    data = spec.model_dump(mode="json", exclude={"name", "description"})
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]
