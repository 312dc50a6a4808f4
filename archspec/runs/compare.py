"""Runs side by side: the spec and recipe fields that differ between them, and their final metrics.

Fields are compared as `archspec diff` compares two specs (archspec.arch.diff): effective values (each
stage's block written out), the deepest field where every run has a mapping or a list there, and a
stage's block change left out where it is the spec-level block change already listed. Here it is done
over any number of runs at once, and over the recipe too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archspec.arch.diff import ABSENT, effective_data
from archspec.arch.diff import _at as value_at  # diff's own lookup of a field path (arch/ is not ours to edit)
from archspec.config.document import format_path
from archspec.errors import ArchspecError
from archspec.runs.folders import Run, read_run

Key = tuple[str | int, ...]


@dataclass(frozen=True)
class Difference:
    """One field whose value is not the same in every run: `values` in the runs' order (ABSENT: not there)."""

    part: str  # spec or recipe
    path: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Comparison:
    runs: tuple[Run, ...]
    differences: tuple[Difference, ...]

    @property
    def names(self) -> list[str]:
        return [run.summary.name for run in self.runs]


def compare_runs(paths: Sequence[Path]) -> Comparison:
    """The comparison of these run folders; one that is not a readable run is an ArchspecError naming it."""
    if len(paths) < 2:
        raise ArchspecError("runs compare needs at least two run folders")
    runs = tuple(read_run(path, _label(path, paths)) for path in paths)
    specs = [effective_data(run.spec) for run in runs]
    recipes = [run.recipe.model_dump(mode="json") for run in runs]
    differences = [Difference("spec", format_path(key), values) for key, values in differences_of(specs)
                   if not _mirrors_block(key, values, specs)]  # fmt: skip
    differences += [Difference("recipe", format_path(key), values) for key, values in differences_of(recipes)]
    return Comparison(runs, tuple(differences))


def _label(path: Path, paths: Sequence[Path]) -> str:
    """A run's column title: its folder's name, or the whole path where two runs share a name."""
    same = sum(1 for other in paths if other.name == path.name)
    return path.name if same == 1 and path.name else str(path)


def differences_of(values: Sequence[Any], key: Key = ()) -> list[tuple[Key, tuple[Any, ...]]]:
    """(path, values) wherever the values are not all equal, descending only where all are mappings (or all
    lists): `diff`'s rule for two specs (archspec.arch.diff.field_changes), for any number."""
    if all(isinstance(v, dict) for v in values):
        keys = list(dict.fromkeys(k for v in values for k in v))
        return [d for k in keys for d in differences_of([v.get(k, ABSENT) for v in values], (*key, k))]
    if all(isinstance(v, list) for v in values):
        longest = max(len(v) for v in values)
        columns = [[v[i] if i < len(v) else ABSENT for v in values] for i in range(longest)]
        return [d for i, column in enumerate(columns) for d in differences_of(column, (*key, i))]
    first = values[0]
    return [] if all(v == first for v in values) else [(key, tuple(values))]


def _mirrors_block(key: Key, values: tuple[Any, ...], specs: Sequence[dict[str, Any]]) -> bool:
    """Whether a stage's block difference is the spec-level `block` difference itself (listed once, there)."""
    if not (key[0] == "stages" and len(key) > 3 and key[2] == "block"):
        return False
    return values == tuple(value_at(spec, ("block", *key[3:])) for spec in specs)


# the final metrics compared, as (label, the value of a run or None)
METRICS: tuple[tuple[str, str], ...] = (
    ("status", "status"),
    ("epochs", "epochs"),
    ("best test acc", "best_acc"),
    ("final test acc", "final_acc"),
    ("final train acc", "train_acc"),
    ("final train loss", "train_loss"),
    ("examples/sec", "examples_per_sec"),
    ("wall time", "wall_seconds"),
    ("params", "params"),
    ("MACs", "macs"),
    ("spec hash", "spec_hash"),
)


def metric(run: Run, key: str) -> Any:
    """A run's value of one METRICS key (None where it has not trained an epoch)."""
    summary = run.summary
    if key in ("train_acc", "train_loss", "examples_per_sec"):
        return run.rows[-1][key] if run.rows else None
    if key == "epochs":
        return f"{summary.epochs}/{summary.total_epochs}"
    return getattr(summary, key)


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    def show(value: Any) -> Any:
        return None if value is ABSENT else value

    return {
        "runs": [{**run.summary.to_json(), "last": run.rows[-1] if run.rows else None} for run in comparison.runs],
        "differences": [
            {"part": d.part, "field": d.path, "values": [show(v) for v in d.values]} for d in comparison.differences
        ],
    }


def comparison_csv_rows(comparison: Comparison) -> list[list[Any]]:
    """A row per compared field and per metric, a column per run (what the table shows, unformatted)."""
    rows: list[list[Any]] = [["part", "field", *comparison.names]]
    for d in comparison.differences:
        rows.append([d.part, d.path, *("" if v is ABSENT else v for v in d.values)])
    for label, key in METRICS:
        rows.append(["metrics", label, *("" if (v := metric(run, key)) is None else v for run in comparison.runs)])
    return rows


__all__ = ["METRICS", "Comparison", "Difference", "compare_runs", "comparison_csv_rows", "comparison_json",
           "differences_of", "metric"]  # fmt: skip
