"""What a run folder holds, summed up in one row: `archspec runs list` reads these.

A row per run folder under a directory, sweep trials included (a sweep folder's `trials/NNNN/` are
ordinary run folders, archspec.search.folder). Only the small files are read (spec.yaml, recipe.yaml,
metrics.jsonl), never a checkpoint, so listing is quick and needs no torch. A folder that cannot be read
is still a row, with what is wrong in its note, so one bad folder does not hide the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from archspec.arch.complexity import totals
from archspec.arch.validate import load_spec
from archspec.artifacts.rundir import RunDir
from archspec.errors import ArchspecError
from archspec.recipe.schema import Recipe, load_recipe
from archspec.search.folder import is_sweep_folder
from archspec.spec.io import spec_hash
from archspec.spec.schema import ResNetSpec

STATUSES = ("finished", "stopped", "running")
MAX_DEPTH = 4  # DIR/sweeps/NAME/trials/NNNN: how deep `runs list` looks for run folders


@dataclass(frozen=True)
class RunSummary:
    """One run folder: what it trains, how far it got, and how it did."""

    path: Path
    name: str  # the folder relative to the directory listed
    status: str  # finished (every epoch of the recipe done), running (a process holds its lock) or stopped
    spec: str | None = None
    spec_hash: str | None = None
    recipe: str | None = None
    epochs: int = 0  # trained
    total_epochs: int | None = None  # the recipe's
    best_acc: float | None = None  # the best test accuracy of any epoch
    final_acc: float | None = None  # after the last epoch trained
    params: int | None = None
    macs: int | None = None  # per image
    wall_seconds: float = 0.0  # training and evaluation, every epoch
    sweep: str | None = None  # the sweep folder of a trial
    writer: str | None = None  # the pid holding the lock
    note: str = ""  # what could not be read

    def to_json(self) -> dict[str, object]:
        return {
            "run": self.name,
            "path": str(self.path),
            "status": self.status,
            "spec": self.spec,
            "spec_hash": self.spec_hash,
            "recipe": self.recipe,
            "epochs": self.epochs,
            "total_epochs": self.total_epochs,
            "best_acc": self.best_acc,
            "final_acc": self.final_acc,
            "params": self.params,
            "macs": self.macs,
            "wall_seconds": round(self.wall_seconds, 3),
            "sweep": self.sweep,
            "writer": self.writer,
            "note": self.note,
        }


@dataclass(frozen=True)
class Run:
    """A run folder read whole (what `runs compare` needs): its summary, spec, recipe and metrics rows."""

    summary: RunSummary
    spec: ResNetSpec
    recipe: Recipe
    rows: tuple[dict[str, float], ...]


def find_runs(root: Path) -> list[tuple[Path, str | None]]:
    """Every run folder at or under `root` (depth-first, in name order) with the sweep folder it is a trial of."""
    if not root.is_dir():
        raise ArchspecError(f"{root}: no such folder")
    return list(_walk(root, None, 0))


def _walk(folder: Path, sweep: str | None, depth: int) -> Iterator[tuple[Path, str | None]]:
    if RunDir.is_run(folder):
        yield folder, sweep
        return
    if depth >= MAX_DEPTH:
        return
    if is_sweep_folder(folder):
        sweep = folder.name
    try:
        children = sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))
    except OSError:
        return
    for child in children:
        yield from _walk(child, sweep, depth + 1)


def summarize(path: Path, name: str | None = None, sweep: str | None = None) -> RunSummary:
    """The row of one run folder; what cannot be read goes into its note."""
    try:
        return read_run(path, name, sweep).summary
    except ArchspecError as err:
        run = RunDir(path)
        writer = run.writer()
        return RunSummary(path, name or str(path), "running" if writer else "stopped", sweep=sweep, writer=writer,
                          note=str(err).splitlines()[0])  # fmt: skip


def read_run(path: Path, name: str | None = None, sweep: str | None = None) -> Run:
    """A run folder's spec, recipe and metrics; ArchspecError (one line) if it is not a readable run folder."""
    run = RunDir(path)
    if not RunDir.is_run(path):
        raise ArchspecError(f"{path}: not a run folder (no {RunDir.RECIPE} or {RunDir.CHECKPOINTS}/); "
                            "archspec train writes one")  # fmt: skip
    for file in (run.spec_file, run.recipe_file):
        if not file.is_file():
            raise ArchspecError(f"{file}: missing; the run never started training")
    spec = load_spec(str(run.spec_file))
    recipe = load_recipe(run.recipe_file)
    rows = tuple(run.read_metrics())
    cost = totals(spec)
    writer = run.writer()
    status = "running" if writer else "finished" if len(rows) >= recipe.epochs else "stopped"
    accuracies = [row["test_acc"] for row in rows]
    summary = RunSummary(
        path=path,
        name=name or str(path),
        status=status,
        spec=spec.name,
        spec_hash=spec_hash(spec),
        recipe=recipe.name,
        epochs=len(rows),
        total_epochs=recipe.epochs,
        best_acc=max(accuracies, default=None),
        final_acc=accuracies[-1] if accuracies else None,
        params=cost.params,
        macs=cost.macs,
        wall_seconds=sum(row["wall_seconds"] for row in rows),
        sweep=sweep,
        writer=writer,
    )
    return Run(summary, spec, recipe, rows)


def list_runs(root: Path) -> list[RunSummary]:
    """A row per run folder at or under `root`, sweep trials included, named relative to `root`."""
    found = find_runs(root)
    return [summarize(path, str(path.relative_to(root)) if path != root else path.name, sweep)
            for path, sweep in found]  # fmt: skip


__all__ = ["STATUSES", "Run", "RunSummary", "find_runs", "list_runs", "read_run", "summarize"]
