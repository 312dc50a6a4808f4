"""The sweep file: a base spec and recipe, a space of `PATH: {int|float|log|choice ...}` entries,
cost constraints, objectives and a budget. Read through archspec.config, so every error is one
`file:line:col: field: problem` line, like a spec's.

    name: fashion-around
    spec: fashion-resnet              # a preset, a path relative to this file, or an inline mapping
    recipe: fashion-best              # likewise
    overrides: [epochs=2]             # fixed PATH=VALUE changes to the base, routed as `train --set` routes them
    space:
      width: {float: [0.5, 1.25], step: 0.25}
      stages[*].blocks: {int: [1, 2]}             # [*]: one parameter per stage of the base spec
      block.squeeze_excite: {choice: [null, {ratio: 0.25}]}
      optimizer.lr: {log: [0.001, 0.01]}  # a recipe field (or write recipe.optimizer.lr, spec.name=...)
    constraints: {max_macs: 5_000_000}
    n_trials: 24

Loading resolves the base spec and recipe (their files, `extends`, the overrides) into plain data and
checks every space path against the schema, so a worker, a resumed sweep or another machine needs only
the resolved sweep (`ResolvedSweep.to_json`), never the original files.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, PositiveFloat, PositiveInt, model_validator

from archspec.arch.guard import parse_count
from archspec.arch.validate import resolve_spec
from archspec.config.diagnostics import in_file_order, validate
from archspec.config.document import Document, Path_, format_path, parse, read_text
from archspec.config.model import Model, fail
from archspec.config.overrides import apply_overrides, assign, parse_path
from archspec.config.sources import find_source
from archspec.config.text import did_you_mean
from archspec.errors import ArchspecError, Problem, SpecError, and_more
from archspec.recipe.presets import recipe_dir
from archspec.recipe.schema import Recipe, Target, resolve_recipe, route, route_overrides
from archspec.spec.compose import DIRECTIVES
from archspec.spec.io import without_unused_later_fields
from archspec.spec.presets import preset_dir
from archspec.spec.regnet import RegNetStages
from archspec.spec.schema import ResNetSpec

STAR = "[*]"
UNSWEPT = ("name", "description", "extends")  # identity, not design: a trial gets its own name
KINDS = ("int", "float", "log", "choice")


def _count(value: Any) -> Any:
    # PyYAML reads 12e6 as text (its floats need a dot and a signed exponent): take the text as a count.
    if isinstance(value, str):
        try:
            return parse_count(value, "value")
        except ArchspecError as err:
            fail((), str(err).removeprefix("value: "))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Count = Annotated[PositiveInt, BeforeValidator(_count)]


class Dimension(Model):
    """One space entry: exactly one of int, float, log or choice."""

    int_: list[int] | None = Field(
        None, alias="int", min_length=2, max_length=2, description="Whole numbers [low, high], both included."
    )
    float_: list[float] | None = Field(
        None, alias="float", min_length=2, max_length=2, description="Real numbers [low, high], uniform."
    )
    log: list[float] | None = Field(
        None, min_length=2, max_length=2, description="Positive reals [low, high], uniform in log scale."
    )
    choice: list[Any] | None = Field(
        None, min_length=1, description="One of these values (any YAML value: a number, null, a mapping ...)."
    )
    step: PositiveFloat | None = Field(None, description="Spacing of int or float values (default: 1 for int).")

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if self.bounds(kind) is not None)

    def bounds(self, kind: str) -> list[Any] | None:
        return {"int": self.int_, "float": self.float_, "log": self.log, "choice": self.choice}[kind]

    @model_validator(mode="after")
    def _one_kind(self) -> Dimension:
        given = [kind for kind in KINDS if self.bounds(kind) is not None]
        if len(given) != 1:
            fail((), f"give exactly one of int, float, log, choice; got {', '.join(given) or 'none'}")
        kind = given[0]
        values = self.bounds(kind) or []
        if kind == "choice":
            texts = [json.dumps(value, sort_keys=True) for value in values]
            for index, text in enumerate(texts):
                if texts.index(text) != index:
                    fail(("choice", index), f"repeats choice {values[index]!r}")
            if self.step is not None:
                fail(("step",), "applies to int and float ranges, not to a choice")
            return self
        low, high = values
        if low > high:
            fail((kind,), f"low ({low}) is above high ({high}); write [low, high]")
        if kind == "log":
            if low <= 0:
                fail((kind, 0), f"a log range needs low > 0, got {low}")
            if self.step is not None:
                fail(("step",), "a log range has no step; use float with a step for an even grid")
        if self.step is not None:
            if kind == "int" and not self.step.is_integer():
                fail(("step",), f"an int range needs a whole step, got {self.step}")
            spans = (high - low) / self.step
            if abs(spans - round(spans)) > 1e-9:
                fail(("step",), f"high - low ({high - low:g}) is not a multiple of step {self.step:g}")
        return self


class Constraints(Model):
    max_params: Count | None = Field(None, description="Most parameters a candidate may have (analytic).")
    max_macs: Count | None = Field(
        None, description="Most multiply-accumulates per image (analytic, archspec.arch.complexity)."
    )
    min_macs: Count | None = Field(
        None,
        json_schema_extra={"since": 2},
        description="Fewest multiply-accumulates per image: with max_macs, a budget band, so that two design "
        "spaces are compared at the same cost (pycls samples each space within a flops range).",
    )
    max_activation_bytes: Count | None = Field(
        None, description="Most bytes of activations kept for backward at the recipe's batch size (analytic)."
    )
    max_latency_ms: PositiveFloat | None = Field(
        None,
        description="Most milliseconds per image at batch 1 for the folded-BN inference copy, measured on this "
        "machine before training (median of repeated runs; depends on the machine and its load).",
    )

    @model_validator(mode="after")
    def _band(self) -> Constraints:
        if self.min_macs is not None and self.max_macs is not None and self.min_macs > self.max_macs:
            fail(("min_macs",), f"{self.min_macs:,} is above max_macs ({self.max_macs:,}); write the band low to high")
        return self


class Pruner(Model):
    kind: Literal["hyperband", "successive_halving", "median", "none"] = Field(
        description="Stops weak candidates early from their per-epoch test accuracy: Hyperband or successive "
        "halving (Li et al. 2018; Jamieson and Talwalkar 2016), the median rule, or none."
    )
    min_epochs: PositiveInt = Field(1, description="Epochs every candidate trains before it can be stopped.")
    reduction_factor: int = Field(3, ge=2, description="Successive halving keeps 1 in this many at each rung.")


class Sampler(Model):
    kind: Literal["tpe", "random"] = Field(
        "tpe", description="tpe: Optuna's tree-structured Parzen estimator (multivariate); random: uniform."
    )
    seed: int = Field(0, ge=0, description="Seeds the sampler; worker i uses seed + i.")


class DataSettings(Model):
    data_dir: str | None = Field(
        None, description="Folder of the IDX files, 'sample' for the bundled sample, null for the installed data."
    )
    max_train: PositiveInt | None = Field(None, description="Train each candidate on the first N training images.")
    max_test: PositiveInt | None = Field(None, description="Score each candidate on the first N test images.")


Objective = Literal["accuracy", "macs", "params"]


class Sweep(Model):
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80, description="Names the study and the trial specs."
    )
    description: str = Field("", description="Free text.")
    spec: str | dict[str, Any] = Field(
        description="The base spec: a preset name, a path relative to the sweep file, or an inline mapping."
    )
    recipe: str | dict[str, Any] = Field(
        description="The base recipe: a bundled name, a path relative to the sweep file, or an inline mapping."
    )
    overrides: list[str] = Field(
        default_factory=list,
        description="Fixed PATH=VALUE changes to the base, in the --set grammar and routed as train --set routes "
        "them: by the first key (a spec or a recipe field), or an explicit spec. or recipe. prefix.",
    )
    space: dict[str, Dimension] = Field(
        min_length=1,
        description="PATH: {int|float|log|choice ...}; a path routes as an override does (recipe fields, or a "
        "recipe. prefix, sample the recipe).",
    )
    constraints: Constraints = Field(default_factory=Constraints, description="Cost limits checked before training.")
    objectives: list[Objective] = Field(
        default_factory=lambda: list[Objective](["accuracy"]),
        min_length=1,
        max_length=2,
        description="accuracy (maximised), optionally with macs or params (minimised): a multi-objective study.",
    )
    n_trials: PositiveInt = Field(description="Candidates to train, over all workers and resumes.")
    time_budget_minutes: PositiveFloat | None = Field(
        None, description="No trial starts after this many minutes of a run (a resume gets the budget afresh)."
    )
    pruner: Pruner | None = Field(
        None, description="Early stopping; default hyperband for one objective, none for two (Optuna's rule)."
    )
    sampler: Sampler = Field(default_factory=Sampler, description="How candidates are drawn.")
    data: DataSettings = Field(default_factory=DataSettings, description="Data each candidate trains on.")
    family: str | None = Field(
        None, description="The space entry whose value names a candidate's sub-family in edf.png (default: the "
        "first choice entry)."
    )  # fmt: skip

    @model_validator(mode="after")
    def _objectives(self) -> Sweep:
        if self.objectives[0] != "accuracy":
            fail(("objectives", 0), "the first objective is accuracy; a second one (macs or params) is minimised")
        if len(self.objectives) == 2 and self.objectives[1] == "accuracy":
            fail(("objectives", 1), "choose macs or params as the second objective")
        if len(self.objectives) == 2 and self.pruner is not None and self.pruner.kind != "none":
            fail(("pruner",), "Optuna prunes single-objective studies only; drop pruner or use one objective")
        if self.family is not None and self.family not in self.space:
            fail(("family",), f"must be a space entry; choose from {', '.join(self.space)}")
        return self

    @property
    def pruner_kind(self) -> str:
        if self.pruner is not None:
            return self.pruner.kind
        return "hyperband" if len(self.objectives) == 1 else "none"

    @property
    def family_key(self) -> str | None:
        if self.family is not None:
            return self.family
        return next((key for key, dim in self.space.items() if dim.kind == "choice"), None)


@dataclass(frozen=True)
class Axis:
    """One sampled parameter: a space entry, or one item of a `[*]` entry."""

    name: str  # Optuna's parameter name: stages[1].blocks, recipe.optimizer.lr
    key: str  # the space entry it came from: stages[*].blocks
    target: Target  # where the entry routes (archspec.recipe.schema.route): a prefix, else its first key
    path: Path_  # in the target: ("stages", 1, "blocks"), ("optimizer", "lr")
    dimension: Dimension
    path_text: str = ""  # the path in the target, as text: optimizer.lr


@dataclass(frozen=True)
class ResolvedSweep:
    """A sweep with its base spec and recipe as resolved data (overrides applied) and its space expanded."""

    settings: Sweep
    source: str
    axes: tuple[Axis, ...]

    @property
    def spec_data(self) -> dict[str, Any]:
        assert isinstance(self.settings.spec, dict)
        return self.settings.spec

    @property
    def recipe_data(self) -> dict[str, Any]:
        assert isinstance(self.settings.recipe, dict)
        return self.settings.recipe

    def to_json(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_json(cls, data: Any, source: str) -> ResolvedSweep:
        """A resolved sweep stored by `to_json` (a sweep folder's sweep.json)."""
        settings = validate(Document(source, data), Sweep, "resolved sweep")
        return cls(settings, source, tuple(_expand(settings, Document(source, data))))

    def fingerprint(self) -> str:
        """What makes two sweeps the same study: everything but the budget (n_trials, time) and the reporting."""
        data = without_unused_later_fields(self.settings, self.to_json())  # older sweeps keep their fingerprint
        for key in ("n_trials", "time_budget_minutes", "description", "family"):
            data.pop(key, None)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def load_sweep(path: Path, sets: Sequence[str] = ()) -> ResolvedSweep:
    """Read, validate and resolve a sweep file; `sets` are `--set PATH=VALUE` changes to the file itself.

    The base spec and recipe go through the one way in (archspec.arch.validate.resolve_spec and
    archspec.recipe.schema.resolve_recipe) with the file's `overrides:` routed as `train --set` routes them
    (archspec.recipe.schema.route), so `epochs=2` reaches the recipe here too."""
    doc = apply_overrides(parse(read_text(path), str(path)), sets)
    settings = validate(doc, Sweep, "sweep file")
    folder = path.parent
    origins = [doc.where(("overrides", index)) for index in range(len(settings.overrides))]
    spec_fixed, recipe_fixed = route_overrides(settings.overrides, origins)
    # a broken base is the file's error, not a trial's: both are validated here, shapes included
    spec = resolve_spec(_base(doc, "spec", settings.spec, folder), spec_fixed, folder)
    recipe = resolve_recipe(_base(doc, "recipe", settings.recipe, folder), recipe_fixed, folder)
    data_dir = settings.data.data_dir
    if data_dir not in (None, "sample"):  # workers and resumes may run elsewhere: keep it absolute
        data_dir = str(Path(data_dir).expanduser().resolve())
    resolved = settings.model_copy(
        update={
            "spec": copy.deepcopy(spec.document.data),
            "recipe": copy.deepcopy(recipe.document.data),
            "overrides": [],
            "data": settings.data.model_copy(update={"data_dir": data_dir}),
        }
    )
    return ResolvedSweep(resolved, str(path), tuple(_expand(resolved, doc)))


def _base(doc: Document, field: str, value: str | dict[str, Any], folder: Path) -> Path | Document:
    """The base spec or recipe a sweep names: the file (config.sources' rule inside a file, errors at the
    sweep file's line), or an inline mapping as a document whose positions are the sweep file's."""
    if isinstance(value, dict):
        marks = {path[1:]: mark for path, mark in doc.marks.items() if path[:1] == (field,)}
        origins = {path[1:]: origin for path, origin in doc.origins.items() if path[:1] == (field,)}
        return Document(doc.source, value, marks, origins)
    bundled = preset_dir() if field == "spec" else recipe_dir()
    try:
        found = find_source(value, bundled, field, folder, named_by="the sweep file")
    except SpecError as err:
        raise doc.error((field,), str(err)) from None
    if not found.is_yaml or found.path is None:
        raise doc.error((field,), f"{value!r} is a {found.kind} file, not a {field}; name a bundled {field} or a "
                        ".yaml file")  # fmt: skip
    return found.path


def _expand(settings: Sweep, doc: Document) -> list[Axis]:
    """One axis per space entry, or per list item for a `[*]` entry; every path checked against the schema.
    Every entry's problem is found, not only the first (`--all-errors` lists them)."""
    axes: list[Axis] = []
    problems: list[Problem] = []
    for key, dimension in settings.space.items():
        try:
            axes.extend(_entry_axes(settings, doc, key, dimension))
        except SpecError as err:
            problems.extend(err.errors)
    first: dict[str, str] = {}  # axis name -> the entry that samples it first
    for axis in axes:
        if first.setdefault(axis.name, axis.key) != axis.key:
            problems += doc.problem(("space", axis.key), f"{axis.name} is sampled twice (by space entries "
                                    f"{first[axis.name]} and {axis.key})")[1]  # fmt: skip
    if problems:
        problems = in_file_order(problems, doc)
        raise SpecError(problems[0].message + and_more(len(problems)), problems)
    return axes


def _entry_axes(settings: Sweep, doc: Document, key: str, dimension: Dimension) -> list[Axis]:
    """The axes of one space entry: itself, or one per item of the list its `[*]` names."""
    where = ("space", key)
    origin = doc.where(where)
    head = re.match(r"\w*", key.removeprefix("spec.").removeprefix("recipe."))
    if head and head[0] in UNSWEPT:  # before routing: `name` is in both the spec and the recipe
        raise doc.error(where, f"{head[0]} cannot be swept (each trial gets its own)")
    target, text = route(key, f"{origin}: space.{key}")
    if text.count(STAR) > 1:
        raise doc.error(where, "one [*] per path")
    path = parse_path(text.replace(STAR, "[0]"), f"{origin}: space.{key}")
    data = settings.spec if target == "spec" else settings.recipe
    assert isinstance(data, dict), "expanded only once the base is resolved into data"
    model: type[BaseModel] = ResNetSpec if target == "spec" else Recipe
    problem = _path_problem(model, path, target, len(parse_path(text.split(STAR)[0], origin)) if STAR in text
                            else None)  # fmt: skip
    if problem:
        raise doc.error(where, problem)
    if STAR not in text:
        # an index past the base's list fails here, once, rather than in every trial
        assign(copy.deepcopy(data), path, None, f"{origin}: space.{key}")
        return [Axis(key, key, target, path, dimension, text)]
    prefix = parse_path(text.split(STAR)[0], f"{origin}: space.{key}")
    items = _lookup(data, prefix)
    if not isinstance(items, list):
        raise doc.error(where, f"[*] needs a list; the base {target} has no list at {text.split(STAR)[0]}")
    star = len(prefix)
    return [Axis(key.replace(STAR, f"[{index}]"), key, target, (*path[:star], index, *path[star + 1 :]), dimension,
                 text.replace(STAR, f"[{index}]")) for index in range(len(items))]  # fmt: skip


def _lookup(data: Any, path: Path_) -> Any:
    node = data
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node


def _path_problem(model: type[BaseModel], path: Path_, target: str, star: int | None = None) -> str | None:
    """Why `path` names no field of `model` (following lists and every member of a union), or None."""
    head = path[0]
    if target == "spec" and head in DIRECTIVES:
        return None if len(path) == 1 else f"{head} is a number (a multiplier); it has no parts"
    if target == "spec" and path[:2] == ("stages", "regnet") and len(path) > 2:  # a RegNet design space
        return _path_problem(RegNetStages, path[2:], "stages.regnet")
    annotations: list[Any] = [model]
    for depth, part in enumerate(path):
        where = format_path(path[:depth]) or f"the {target}"
        if star is not None and star < depth:  # say stages[*], as the file does
            where = format_path(path[:star]) + "[*]" + format_path(("x", *path[star + 1 : depth]))[1:]
        following: list[Any] = []
        fields: list[str] = []
        for annotation in annotations:
            for member in _members(annotation):
                if isinstance(part, int) and typing.get_origin(member) in (list, tuple):
                    following.extend(arg for arg in typing.get_args(member) if arg is not Ellipsis)
                elif isinstance(part, str) and isinstance(member, type) and issubclass(member, BaseModel):
                    fields.extend(name for name in member.model_fields if name not in fields)
                    if part in member.model_fields:
                        following.append(member.model_fields[part].annotation)
        if not following:
            if isinstance(part, int):
                return f"{where} is not a list, so [{part}] does not apply"
            choices = f"; fields there: {', '.join(fields)}" if fields else ""
            return f"unknown path: {where} has no field {part!r}{did_you_mean(part, fields)}{choices}"
        annotations = following
    return None


def _members(annotation: Any) -> list[Any]:
    """The types an annotation admits: union members, the type inside Annotated or Optional."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return [member for arg in typing.get_args(annotation) for member in _members(arg)]
    return [annotation]


__all__ = ["Axis", "Dimension", "ResolvedSweep", "Sweep", "load_sweep"]
