"""One trial's candidate: sampled values -> spec, recipe, analytic cost and constraint check.

Values go onto the base through the one override grammar (archspec.config.overrides), so a sampled
value behaves exactly as `--set PATH=VALUE` would, and `Candidate.sets` is what reproduces the trial:
`archspec train BASE --recipe R --set PATH=VALUE ...`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import yaml

from archspec.arch.complexity import complexity
from archspec.arch.guard import check
from archspec.arch.validate import resolve_spec
from archspec.config.document import Document
from archspec.config.overrides import Override
from archspec.limits import environment_limits
from archspec.recipe.schema import Recipe, resolve_recipe, trained_fields
from archspec.search.space import Axis, Constraints, Dimension, ResolvedSweep
from archspec.spec.io import spec_hash
from archspec.spec.schema import ResNetSpec
from archspec.train.plan import check_input

LatencyProbe = Callable[[ResNetSpec], float]  # ms per image at batch 1 (archspec.deploy.inference)
_SCALARS = (type(None), bool, int, float, str)


class Suggest(Protocol):
    """The part of an Optuna trial that samples (so this module needs no Optuna import)."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int  # per image
    activation_bytes: int  # at the recipe's batch size
    latency_ms: float | None = None


@dataclass(frozen=True)
class Candidate:
    spec: ResNetSpec
    recipe: Recipe
    sets: tuple[str, ...]  # the trial as PATH=VALUE texts; recipe paths carry the recipe. prefix
    spec_hash: str
    key: str  # equal keys train alike: the spec hash and the recipe without its name
    cost: Cost


def value_text(value: Any) -> str:
    """A value as YAML flow text that reads back as the same value (1e-05 -> 1.0e-05: PyYAML needs the dot)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def choices(dimension: Dimension) -> list[Any]:
    """The choices as Optuna stores them: scalars as they are, else each as JSON text."""
    values = dimension.choice or []
    if all(isinstance(value, _SCALARS) for value in values):
        return list(values)
    return [json.dumps(value, sort_keys=True) for value in values]


def decode(axis: Axis, stored: Any) -> Any:
    """The value a stored Optuna parameter stands for."""
    if axis.dimension.kind == "choice" and choices(axis.dimension) != list(axis.dimension.choice or []):
        return json.loads(stored)
    return stored


def suggest(trial: Suggest, axis: Axis) -> Any:
    """Sample one axis (an Optuna trial, or a fixed-parameter trial for a retry)."""
    dim = axis.dimension
    kind = dim.kind
    if kind == "choice":
        return decode(axis, trial.suggest_categorical(axis.name, choices(dim)))
    low, high = dim.bounds(kind) or [0, 0]
    if kind == "int":
        return trial.suggest_int(axis.name, int(low), int(high), step=int(dim.step or 1))
    return trial.suggest_float(axis.name, float(low), float(high), step=dim.step, log=kind == "log")


def build_candidate(sweep: ResolvedSweep, values: Mapping[str, Any], number: int) -> Candidate:
    """The spec and recipe of trial `number` with `values` (by axis name) applied; SpecError/ArchspecError
    when they are invalid (a block kind whose channels do not divide, an input the recipe does not feed)."""
    name = f"{sweep.settings.name}-{number:04d}"
    spec_items: list[str | Override] = []
    recipe_items: list[str | Override] = []
    sets = []
    for axis in sweep.axes:
        value = values[axis.name]
        text = f"{axis.name}={value_text(value)}"
        sets.append(text)
        item = Override(axis.path, value, f"space {text}")
        (spec_items if axis.target == "spec" else recipe_items).append(item)
    about = {"name": name, "description": f"trial {number} of sweep {sweep.settings.name}"}
    spec = resolve_spec(Document(f"{sweep.source} (base spec)", {**sweep.spec_data, **about}), spec_items).model
    recipe = resolve_recipe(Document(f"{sweep.source} (base recipe)", {**sweep.recipe_data, **about}),
                            recipe_items).model  # fmt: skip
    check_input(spec, recipe)
    report = complexity(spec, batch_size=recipe.batch_size)
    check(report, environment_limits())  # the machine's own limits (ARCHSPEC_MAX_*): recorded as a rejection
    cost = Cost(report.params, report.macs // report.batch_size, report.activation_bytes)
    return Candidate(spec, recipe, tuple(sets), spec_hash(spec), candidate_key(spec, recipe), cost)


def candidate_key(spec: ResNetSpec, recipe: Recipe) -> str:
    text = spec_hash(spec) + json.dumps(trained_fields(recipe), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def violations(constraints: Constraints, cost: Cost) -> list[str]:
    """Each constraint the cost breaks, as `macs 5,120,000 > max_macs 4,000,000`."""
    out = []
    for field, figure in (("params", cost.params), ("macs", cost.macs), ("activation_bytes", cost.activation_bytes)):
        limit = getattr(constraints, f"max_{field}")
        if limit is not None and figure > limit:
            out.append(f"{field} {figure:,} > max_{field} {limit:,}")
    if constraints.min_macs is not None and cost.macs < constraints.min_macs:
        out.append(f"macs {cost.macs:,} < min_macs {constraints.min_macs:,}")
    if (
        constraints.max_latency_ms is not None
        and cost.latency_ms is not None
        and cost.latency_ms > constraints.max_latency_ms
    ):
        out.append(f"latency_ms {cost.latency_ms:.3g} > max_latency_ms {constraints.max_latency_ms:g}")
    return out


__all__ = [
    "Candidate",
    "Cost",
    "LatencyProbe",
    "build_candidate",
    "decode",
    "suggest",
    "value_text",
    "violations",
]
