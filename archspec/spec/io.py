"""Read, dump and hash specs. No torch import; shapes are checked one layer down (archspec.arch.validate)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from archspec.config.diagnostics import validate
from archspec.config.document import Document, parse
from archspec.config.overrides import Override
from archspec.errors import SpecError, and_more
from archspec.spec.compose import DirectiveError, compose, load_document
from archspec.spec.schema import ResNetSpec


def read_spec(
    source: str | Path | Document, sets: Sequence[str | Override] = (), named_in: Path | None = None
) -> tuple[ResNetSpec, Document]:
    """A spec that passes the schema, from a path, a preset name, YAML text or a parsed document, with `sets`
    applied; and its located document (for errors found later, such as shapes that do not fit:
    archspec.arch.validate.resolve_spec, the one way in that checks them too)."""
    try:
        doc = load_document(source, sets, named_in)
    except DirectiveError as err:  # a bad width or depth: the rest of the file may hold more problems
        try:
            validate(err.unscaled, ResNetSpec, "spec")
        except SpecError as other:
            problems = (*err.errors, *other.errors)
            raise SpecError(f"{err}{and_more(len(problems))}", problems) from None
        raise
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
    """A stable hash of the architecture: the canonical form without name and description.

    The hash rule for fields added later: a schema field marked `json_schema_extra={"since": N}` (N >= 2, the
    spec version that added it) is left out of the hashed form while it holds its default, so a spec that does
    not use the field hashes as it did before the field existed; a run, checkpoint or sweep recorded under the
    old hash still finds its spec. A non-default value is hashed like any other field. A field present from
    the start (no `since`) is always hashed. tests/spec/preset_hashes.json holds every preset's hash.
    """
    data = without_unused_later_fields(spec, spec.model_dump(mode="json", exclude={"name", "description"}))
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def since(field: FieldInfo) -> int | None:
    """The spec version that added a field (`json_schema_extra={"since": N}`), or None for an original one."""
    extra = field.json_schema_extra
    value = extra.get("since") if isinstance(extra, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def without_unused_later_fields(model: BaseModel, data: dict[str, Any]) -> dict[str, Any]:
    """`data` (model's dump) less each later field (`since`) that holds its default, at every depth."""
    for name, field in type(model).model_fields.items():
        if name not in data:
            continue
        value = getattr(model, name)
        if since(field) is not None and value == field.get_default(call_default_factory=True):
            del data[name]
        elif isinstance(value, BaseModel) and isinstance(data[name], dict):
            without_unused_later_fields(value, data[name])
        elif isinstance(value, list | tuple) and isinstance(data[name], list):
            for item, dumped in zip(value, data[name], strict=False):
                if isinstance(item, BaseModel) and isinstance(dumped, dict):
                    without_unused_later_fields(item, dumped)
    return data
