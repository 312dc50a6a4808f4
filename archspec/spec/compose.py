"""Compose specs: `extends` a base, override fields, `--set` dotted values, scale by width and depth.

A spec file may start from another one and say only what differs:

    extends: resnet50          # a bundled preset, or a path relative to this file (`../base.yaml`)
    name: resnet50-se
    stages: ...                # mappings merge key by key; lists (stages) are replaced whole
    width: 0.5                 # multiply every width (stem, stages), rounded as `scaled_width` says
    depth: 2.0                 # multiply every stage's block count, rounded up

The three directives are read here and never reach the schema: what validates, and what
`archspec show` prints, is the resolved spec. Every value keeps the file, line and column it
came from, so an error in a base file names the base file.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from archspec.config.document import Document, Path_, parse, read_text
from archspec.config.merge import deep_merge, merges, overlay
from archspec.config.overrides import Override, apply_overrides, locate, located_document
from archspec.config.sources import find_source
from archspec.config.text import clip, kind_of, quote
from archspec.errors import SpecError
from archspec.spec import kinds
from archspec.spec.bounds import MAX_MULTIPLIER
from archspec.spec.presets import preset_dir
from archspec.spec.schema import ResNetSpec

DIRECTIVES = ResNetSpec.document_keys  # extends, width, depth
WIDTH_DIVISOR = 8
MAX_EXTENDS = 16  # files in one `extends` chain
NOT_INHERITED = ("description",)  # a variant is not what its base's text says


class DirectiveError(SpecError):
    """A width or depth that cannot apply; `unscaled` is the data it was to scale, so that the caller can
    validate it too and report every problem at once (`--all-errors`), not the multiplier's alone."""

    def __init__(self, error: SpecError, unscaled: Document) -> None:
        super().__init__(str(error), error.errors)
        self.unscaled = unscaled


def load_document(
    source: str | Path | Document, sets: Sequence[str | Override] = (), named_in: Path | None = None
) -> Document:
    """The resolved spec data of a path, preset name, YAML text or parsed document, with `--set` overrides
    applied. `named_in`: the folder of the file that names `source` (a sweep file), for config.sources' rule
    inside a file; a parsed document's `extends` is relative to it too (default: the current folder)."""
    if isinstance(source, Document):
        doc = compose(source, named_in or Path.cwd(), ())
    else:
        found = find_source(source, preset_dir(), "spec", named_in)
        if found.path is None:
            doc = compose(parse(str(source), "<string>"), Path.cwd(), ())
        else:
            doc = load_file(found.path, ())
    return apply_sets(doc, sets) if sets else doc


def load_file(path: Path, chain: tuple[Path, ...]) -> Document:
    return compose(parse(read_text(path), str(path)), path.parent, (*chain, path.resolve()))


def compose(doc: Document, folder: Path, chain: tuple[Path, ...]) -> Document:
    """Resolve one parsed file's directives: its base first, then its own keys, then the multipliers."""
    if not isinstance(doc.data, dict):
        return doc  # validation says what is wrong with it
    data = {key: value for key, value in doc.data.items() if key not in DIRECTIVES}
    own = Document(doc.source, data, doc.marks)
    if "extends" in doc.data:
        if len(chain) >= MAX_EXTENDS:
            raise doc.error(("extends",), f"a chain of over {MAX_EXTENDS} files extending one another; "
                            "extend a base nearer the end of the chain")  # fmt: skip
        base = _base_mapping(doc, load_file(_base_path(doc, folder, chain), chain))
        own = overlay_documents(base, own)
    return scale(own, doc, doc.data.get("width"), doc.data.get("depth"))


def _base_path(doc: Document, folder: Path, chain: tuple[Path, ...]) -> Path:
    name = doc.data["extends"]
    if not isinstance(name, str) or not name:
        raise doc.error(("extends",), f"must be a preset name or a path to a spec file, got {quote(name)}")
    try:
        found = find_source(name, preset_dir(), "base", named_in=folder)
    except SpecError as err:
        raise doc.error(("extends",), str(err)) from None
    if not found.is_yaml or found.path is None:
        raise doc.error(("extends",), f"base {quote(name)} is a{'n' if found.kind == 'export' else ''} {found.kind} "
                        "file, not a spec; extend a preset name or a .yaml spec file")  # fmt: skip
    path = found.path
    if path.resolve() in chain:
        cycle = " -> ".join(p.name for p in (*chain[chain.index(path.resolve()) :], path))
        raise doc.error(("extends",), f"cycle: {cycle}; a spec cannot extend itself, directly or not")
    return path


def _base_mapping(doc: Document, base: Document) -> Document:
    """`base` (the file `doc` extends) if it is a spec's mapping of fields, less what a variant does not inherit;
    else a located error at `doc`'s `extends` naming the base (a list, a string, or a mapping with no spec field
    would otherwise be ignored, or merged into a misleading error about the user's own file)."""
    name = quote(doc.data["extends"])
    if not isinstance(base.data, dict):
        raise doc.error(("extends",), f"base {name} ({clip(base.source, 200)}) is not a spec: it holds "
                        f"{kind_of(base.data)}, not a mapping of spec fields")  # fmt: skip
    fields = (*ResNetSpec.model_fields, *DIRECTIVES)
    if base.data and not any(key in fields for key in base.data):
        keys = ", ".join(clip(str(key), 40) for key in list(base.data)[:5])
        raise doc.error(("extends",), f"base {name} ({clip(base.source, 200)}) is not a spec: none of its keys "
                        f"({keys}) is a spec field ({', '.join(fields)})")  # fmt: skip
    return Document(base.source, {k: v for k, v in base.data.items() if k not in NOT_INHERITED}, base.marks,
                    base.origins)  # fmt: skip


def overlay_documents(base: Document, layer: Document) -> Document:
    """`layer` on top of `base` (deep merge), each value keeping the position it came from."""
    data = deep_merge(base.data, layer.data) if isinstance(base.data, dict) else layer.data
    replaced = list(_replaced(base.data if isinstance(base.data, dict) else {}, layer.data, ()))
    located = {path: where for path, where in locate(base).items() if not any(path[: len(r)] == r for r in replaced)}
    located.update(locate(layer))
    return located_document(layer.source, data, located)


def _replaced(base: dict[str, Any], layer: dict[str, Any], path: Path_) -> Iterator[Path_]:
    """Paths whose whole subtree `layer` replaces (where both sides are mappings, the merge goes deeper)."""
    for key, value in layer.items():
        if merges(base.get(key), value):
            yield from _replaced(base[key], value, (*path, key))
        else:
            yield (*path, key)


# --- --set overrides --------------------------------------------------------------------------


def apply_sets(doc: Document, sets: Sequence[str | Override]) -> Document:
    """Apply `--set PATH=VALUE` overrides (archspec.config.overrides), then any width/depth they set."""
    if not isinstance(doc.data, dict):
        return doc
    result = apply_overrides(doc, sets)
    data = dict(result.data)
    directives = {key: data.pop(key) for key in ("width", "depth") if key in data}
    result = Document(result.source, data, result.marks, result.origins)
    if "extends" in data:
        raise result.error(("extends",), "cannot be changed by --set; write a spec file that extends the base")
    return scale(result, result, directives.get("width"), directives.get("depth")) if directives else result


# --- width and depth multipliers ----------------------------------------------------------------


def scaled_width(channels: int, width: float, divisor: int = WIDTH_DIVISOR) -> int:
    """channels x width, rounded to the nearest multiple of `divisor`, at least `divisor`, and never
    below 90% of the exact value (the rule of timm's and MobileNet's make_divisible)."""
    exact = channels * width
    rounded = max(divisor, int(exact + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * exact else rounded


def scaled_depth(blocks: int, depth: float) -> int:
    """blocks x depth, rounded up (EfficientNet's round_repeats), so no stage disappears."""
    return max(1, math.ceil(blocks * depth))


def stage_divisor(block: dict[str, Any]) -> int:
    """The multiple of 8 that a stage's channels must be for its block settings to stay valid."""
    kind = kinds.kinds("block").get(block.get("kind"))  # type: ignore[arg-type]
    return math.lcm(WIDTH_DIVISOR, kind.target.width_divisor(block)) if kind is not None else WIDTH_DIVISOR


def scale(doc: Document, directives: Document, width: Any, depth: Any) -> Document:
    """Apply width and depth multipliers to resolved spec data; errors point at the directive."""
    for key, value in (("width", width), ("depth", depth)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not 0 < value <= MAX_MULTIPLIER):  # fmt: skip
            error = directives.error((key,), f"must be a positive number (a multiplier such as 0.5 or 2) up to "
                                     f"{MAX_MULTIPLIER:g}, got {quote(value)}")  # fmt: skip
            raise DirectiveError(error, doc)
    data = doc.data
    if isinstance(data, dict) and isinstance(data.get("stages"), dict):  # a generator (spec/regnet.py)
        for key, value, instead in (("width", width, "w0 and wa"), ("depth", depth, "depth")):
            if value is not None:
                error = directives.error((key,), f"does not apply to generated stages (stages: {{regnet: ...}}); "
                                         f"change the design's {instead} instead")  # fmt: skip
                raise DirectiveError(error, doc)
    if (width is None and depth is None) or not isinstance(data, dict) or not isinstance(data.get("stages"), list):
        return doc
    located = locate(doc)
    data = copy.deepcopy(data)
    stages = data["stages"]

    def update(path: Path_, value: int, key: str) -> None:
        container: Any = data
        for part in path[:-1]:
            container = container[part]
        container[path[-1]] = value
        located[path] = (directives.origins.get((key,), directives.source), directives.marks.get((key,)))

    if width is not None:
        stem = data.get("stem")
        for key in ("channels", "width"):
            if isinstance(stem, dict) and isinstance(stem.get(key), int):
                update(("stem", key), scaled_width(stem[key], width), "width")
        default = _mapping(data.get("block"))
        for index, stage in enumerate(stages):
            if isinstance(stage, dict) and isinstance(stage.get("channels"), int):
                block = overlay(default, _mapping(stage.get("block")))
                update(("stages", index, "channels"), scaled_width(stage["channels"], width, stage_divisor(block)),
                       "width")  # fmt: skip
    if depth is not None:
        for index, stage in enumerate(stages):
            if isinstance(stage, dict) and isinstance(stage.get("blocks"), int):
                update(("stages", index, "blocks"), scaled_depth(stage["blocks"], depth), "depth")
    return located_document(doc.source, data, located)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
