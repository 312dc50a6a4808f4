"""File formats and their migrations: every file archspec writes says its format version, and reading an
older one applies one migration per version step, as Lightning's `utilities/migration` does for its
checkpoints. A file newer than this code is refused with both versions named.

A migration is a plain function from the stored data of version N to that of N + 1, registered in the
format's `steps` under N. It changes only what the step changed, so a chain of them brings a file of any
earlier release up to today's form; the reader of today's form is then the only reader there is.

When you change a format: bump its `current`, add the step here with a docstring saying what changed and
why, and add a fixture folder made by tests/fixtures/make_fixtures.py with the release before the change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from archspec.errors import ArchspecError

Step = Callable[[dict[str, Any]], dict[str, Any]]
EARLIER = "0.1.0 or earlier"  # what a file of format 1 says about the archspec that wrote it


def archspec_version() -> str:
    """The installed archspec's version (written into every file, so a reader can say who wrote it)."""
    try:
        return metadata.version("archspec")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


@dataclass(frozen=True)
class Format:
    """One file format: its name, its current version and the step from each earlier version."""

    name: str
    current: int
    steps: dict[int, Step] = field(default_factory=dict)

    def migrate(self, data: dict[str, Any], version: int, source: str, error: type[ArchspecError]) -> dict[str, Any]:
        """`data` of `version` brought to the current version; `error` for a version this code cannot read."""
        if version > self.current:
            raise error(
                f"{source}: written by a newer archspec ({self.name} format {version}); this archspec "
                f"({archspec_version()}) reads {self.name} formats up to {self.current}: upgrade archspec to read it"
            )
        if version < 1:
            raise error(f"{source}: {self.name} format {version} does not exist (versions start at 1)")
        while version < self.current:
            data = self.steps[version](dict(data))
            version += 1
        return data


# --- checkpoints ------------------------------------------------------------------------------------


def _checkpoint_1_to_2(state: dict[str, Any]) -> dict[str, Any]:
    """Format 2 (archspec 0.2) names the archspec that wrote it and stores every part, none left implicit.

    Format 1 left out what a given file did not use: `metrics` (the earliest files), `scaler` (files of runs
    without mixed precision), `dataset`, `classes` and `preprocess` (files written before these were
    stored, and imported weights). Their readers each filled the gap their own way; from format 2 on the gap
    is filled once, here: no rows, no scaler state, no description, and no stored labels (the labels then
    come from the recipe's dataset, as they always did for such files).
    """
    state.setdefault("metrics", [])
    state.setdefault("scaler", {})
    state.setdefault("dataset", "")
    state.setdefault("classes", None)
    state.setdefault("preprocess", None)
    state.setdefault("imported", None)
    state["archspec"] = EARLIER
    return state


CHECKPOINT = Format("checkpoint", 2, {1: _checkpoint_1_to_2})
CHECKPOINT_PREFIX = "archspec-checkpoint/"


def checkpoint_format(version: int = CHECKPOINT.current) -> str:
    return f"{CHECKPOINT_PREFIX}{version}"


def checkpoint_version(value: Any) -> int | None:
    """The version a checkpoint's `format` entry names, or None when it names none (not a checkpoint)."""
    return _version(value, CHECKPOINT_PREFIX)


def _version(value: Any, prefix: str) -> int | None:
    """N of a format entry "<prefix>N", or None for anything else."""
    if not isinstance(value, str) or not value.startswith(prefix):
        return None
    number = value.removeprefix(prefix)
    return int(number) if number.isdigit() and len(number) < 6 else None


# --- run records (run.json) -------------------------------------------------------------------------


def _run_1_to_2(info: dict[str, Any]) -> dict[str, Any]:
    """Format 2 (archspec 0.2) of run.json says its format and which archspec wrote it; nothing else changed."""
    info["archspec"] = EARLIER
    return info


RUN_INFO = Format("run record", 2, {1: _run_1_to_2})
RUN_INFO_PREFIX = "archspec-run/"


def run_info_version(info: dict[str, Any]) -> int | None:
    """The version of a run.json (1 when it names none: the files of 0.1 carried no format)."""
    value = info.get("format")
    return 1 if value is None else _version(value, RUN_INFO_PREFIX)


# --- export metadata --------------------------------------------------------------------------------


def _export_1_to_2(meta: dict[str, Any]) -> dict[str, Any]:
    """Format 2 (archspec 0.2) of an export's metadata says its format and which archspec wrote it."""
    meta["archspec_version"] = EARLIER
    return meta


EXPORT = Format("export metadata", 2, {1: _export_1_to_2})


__all__ = [
    "CHECKPOINT",
    "EXPORT",
    "RUN_INFO",
    "Format",
    "archspec_version",
    "checkpoint_format",
    "checkpoint_version",
    "run_info_version",
]
