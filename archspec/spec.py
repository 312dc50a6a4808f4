"""Load, dump and hash specs; find bundled presets by name. No torch import."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from archspec.errors import SpecError
from archspec.schema import ResNetSpec
from archspec.yamlio import Document, parse, validate

SPEC_SUFFIXES = (".yaml", ".yml")


def preset_dir() -> Path:
    """The folder of bundled specs (inside the installed package)."""
    return Path(str(resources.files("archspec") / "specs"))


def preset_names() -> list[str]:
    return sorted(p.stem for p in preset_dir().glob("*.yaml"))


def resolve_source(source: str | Path, kind: str = "spec", folder: Path | None = None) -> Path | None:
    """The file a CLI-style source names: an existing path, or a bundled preset name. None for inline text."""
    folder = folder or preset_dir()
    if isinstance(source, Path):
        return source
    if "\n" in source:
        return None
    path = Path(source)
    if path.exists() or path.suffix in SPEC_SUFFIXES or "/" in source:
        return path
    preset = folder / f"{source}.yaml"
    if preset.exists():
        return preset
    names = sorted(p.stem for p in folder.glob("*.yaml"))
    raise SpecError(f"{source}: no such file, and no bundled {kind} of that name; bundled: {', '.join(names)}")


def load_spec(source: str | Path, sets: Sequence[str] = ()) -> ResNetSpec:
    """Load and validate a spec from a path, a preset name, or YAML text.

    `extends`, `width` and `depth` are resolved first (archspec.compose), then each `sets` item
    (`stages[2].blocks=8`) is applied. Every problem raises SpecError whose message starts with
    `file:line:col` of the file the bad value came from (or the --set that gave it) and names the field.
    """
    from archspec.compose import load_document

    return validate(load_document(source, sets), ResNetSpec, "spec")


def spec_from_text(text: str, source: str = "<string>") -> ResNetSpec:
    from archspec.compose import compose

    return validate(compose(parse(text, source), Path.cwd(), ()), ResNetSpec, "spec")


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


def with_input(spec: ResNetSpec, channels: int, height: int, width: int) -> ResNetSpec:
    """The same spec at another input size (re-validated: shapes must still fit)."""
    data = spec.model_dump()
    data["input"] = {"channels": channels, "height": height, "width": width}
    return validate(Document(f"--input-size {channels} {height} {width}", data), ResNetSpec, "spec")
