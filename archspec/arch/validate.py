"""A spec that builds: the schema (archspec.spec) plus the shapes, checked by lowering it into a plan.

`load_spec` is the public loader (`archspec.load_spec`): every problem, a shape that cannot fit
included, is a SpecError at the `file:line:col` of the value to blame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from archspec.arch.plan import PlanError, outline
from archspec.config.diagnostics import validate
from archspec.config.document import Document
from archspec.config.model import Resolved
from archspec.config.overrides import Override
from archspec.spec.io import read_spec, text_document
from archspec.spec.schema import ResNetSpec


def checked(spec: ResNetSpec, doc: Document | None = None) -> ResNetSpec:
    """`spec` if it lowers; else a SpecError located in `doc` when given.

    Lowers the outline (each stage's repeated blocks once), so the check takes the same time for any block
    count. A shape that fails in a base file the user extended is reported at the user's `input` first
    where the user set it (a smaller input is the usual cause), else at the `extends` line.
    """
    try:
        outline(spec)
    except PlanError as err:
        if doc is None:
            raise
        raise doc.error(err.loc, err.message, blame=("input",)) from None
    return spec


def resolve_spec(
    source: str | Path | Document, overrides: Sequence[str | Override] = (), named_in: Path | None = None
) -> Resolved[ResNetSpec]:
    """The one way in for a spec: a path, a preset name, YAML text or a parsed document (a sweep's inline or
    resolved base) -> its `extends`, `width` and `depth` resolved (archspec.spec.compose), each override
    (`PATH=VALUE` text, or a parsed Override with its own origin) applied, the schema and the shapes checked.
    Returns the spec with its located document. `named_in`: the folder of the file that names `source`
    (config.sources' rule inside a file). Every problem is a SpecError at the file:line:col (or the override)
    of the value to blame."""
    spec, doc = read_spec(source, overrides, named_in)
    return Resolved(checked(spec, doc), doc)


def load_spec(source: str | Path, sets: Sequence[str] = ()) -> ResNetSpec:
    """Load and validate a spec from a path, a preset name, or YAML text (`"{name: x, ...}"` too).

    `extends`, `width` and `depth` are resolved first (archspec.spec.compose), then each `sets` item
    (`stages[2].blocks=8`) is applied. Every problem raises SpecError whose message starts with
    `file:line:col` of the file the bad value came from (or the --set that gave it) and names the field.
    """
    return resolve_spec(source, sets).model


def spec_from_text(text: str, source: str = "<string>") -> ResNetSpec:
    doc = text_document(text, source)
    return checked(validate(doc, ResNetSpec, "spec"), doc)


def with_input(spec: ResNetSpec, channels: int, height: int, width: int) -> ResNetSpec:
    """The same spec at another input size (re-validated: shapes must still fit)."""
    data = spec.model_dump()
    data["input"] = {"channels": channels, "height": height, "width": width}
    doc = Document(f"--input-size {channels} {height} {width}", data)
    return checked(validate(doc, ResNetSpec, "spec"), doc)
