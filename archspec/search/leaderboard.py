"""What a sweep found: one entry per trial (ranked by test accuracy), the Pareto front of accuracy against
MACs, the leaderboard as CSV and JSON, and the best spec and recipe as files `archspec train` takes as
they are. The text table is laid out by archspec.report (`leaderboard_table`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec.config.files import write_atomic
from archspec.config.text import counted
from archspec.errors import ArchspecError
from archspec.recipe.schema import dump_recipe
from archspec.search import trials as T
from archspec.search.board import Entry as Entry
from archspec.search.board import Leaderboard as Leaderboard
from archspec.search.board import pareto_front as pareto_front
from archspec.search.candidate import build_candidate, decode, value_text
from archspec.search.folder import read_record
from archspec.search.space import ResolvedSweep
from archspec.spec.io import dump_spec

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

STATES = ("complete", "pruned", "running", "queued", "duplicate", "rejected", "invalid", "failed", "crashed")
COLUMNS = ("rank", "trial", "state", "accuracy", "epochs", "params", "macs", "activation_bytes", "latency_ms",
           "spec_hash", "family", "pareto", "note", "run", "sets")  # fmt: skip


def load_leaderboard(folder: Path, storage: str | None = None, family: str | None = None) -> Leaderboard:
    """The leaderboard of a sweep folder, read from its study (its own SQLite file, or `storage`); `family`
    (a space entry) overrides the sweep's own for the sub-families."""
    from archspec.search.study import open_study, record_url

    record = read_record(folder)
    study = open_study(
        record.sweep, storage or record_url(record, folder), create=False, fingerprint=record.fingerprint
    )
    return leaderboard(record.sweep, study.get_trials(deepcopy=False), family)


def leaderboard(sweep: ResolvedSweep, trials: list[FrozenTrial], family: str | None = None) -> Leaderboard:
    if family is not None and family not in sweep.settings.space:
        raise ArchspecError(f"--family {family}: not a space entry of sweep {sweep.settings.name}; choose from "
                            f"{', '.join(sweep.settings.space)}")  # fmt: skip
    key = family or sweep.settings.family_key
    retries = {int(t.user_attrs["retry_of"]): t.number for t in trials if "retry_of" in t.user_attrs}
    entries = [entry for trial in trials if (entry := _entry(trial, retries, _family(sweep, trial, key)))]
    ranked = sorted((e for e in entries if e.state == "complete"), key=lambda e: (-(e.accuracy or 0.0), e.trial))
    ranks = {entry.trial: index + 1 for index, entry in enumerate(ranked)}
    front = pareto_front([(e.trial, e.accuracy or 0.0, e.macs or 0) for e in ranked])
    order = {state: index for index, state in enumerate(STATES)}
    entries = [_with(e, rank=ranks.get(e.trial), pareto=e.trial in front) for e in entries]
    entries.sort(key=lambda e: (order[e.state], -(e.accuracy or -1.0), e.trial))
    return Leaderboard(sweep, T.count(trials), tuple(entries), {t.number: t for t in trials}, key)


def _family(sweep: ResolvedSweep, trial: FrozenTrial, key: str | None) -> str:
    """The trial's value(s) of the family entry, as YAML text (`bottleneck`, `{ratio: 0.25}`, `1,2,2`)."""
    axes = [axis for axis in sweep.axes if axis.key == key and axis.name in trial.params]
    return ",".join(value_text(decode(axis, trial.params[axis.name])) for axis in axes) or "all"


def _with(entry: Entry, **changes: Any) -> Entry:
    return Entry(**{**asdict(entry), **changes})


def _entry(trial: FrozenTrial, retries: dict[int, int], family: str) -> Entry | None:
    from optuna.trial import TrialState

    attrs = trial.user_attrs
    kind = T.outcome(trial)
    note = ""
    if kind == "surplus" or (trial.state == TrialState.RUNNING and kind != "training"):
        return None  # never a candidate, or still being sampled
    if trial.state == TrialState.WAITING:
        state, note = "queued", f"retry of trial {attrs.get('retry_of')}"
    elif T.is_crashed(trial):
        retry = retries.get(trial.number)
        state = "crashed"
        if retry is not None:
            note = f"worker stopped mid-training; retried as trial {retry}"
        elif int(attrs.get("attempt", 1)) < T.MAX_ATTEMPTS:
            note = "stopped mid-training; archspec sweep --resume retries it"
        else:
            note = f"stopped mid-training {T.MAX_ATTEMPTS} times; not retried again"
    elif trial.state == TrialState.RUNNING:
        state = "running"
    elif kind in STATES:
        state = str(kind)
        note = {
            "rejected": str(attrs.get("reason", "")),
            "invalid": str(attrs.get("error", "")),
            "failed": str(attrs.get("error", "")),
            "duplicate": f"same spec and recipe as trial {attrs.get('duplicate_of')}",
            "pruned": f"stopped after epoch {attrs.get('epochs')}",
        }.get(state, "")
    else:  # FAIL before any outcome: a worker that died while sampling
        state, note = "failed", "stopped before it was decided"
    if "retry_of" in attrs and state != "queued":
        note = f"{note}; retry of trial {attrs['retry_of']}".lstrip("; ")
    return Entry(
        trial=trial.number,
        state=state,
        accuracy=_number(attrs.get("accuracy"), float),
        epochs=_number(attrs.get("epochs"), int),
        params=_number(attrs.get("params"), int),
        macs=_number(attrs.get("macs"), int),
        activation_bytes=_number(attrs.get("activation_bytes"), int),
        latency_ms=_number(attrs.get("latency_ms"), float),
        spec_hash=attrs.get("spec_hash"),
        family=family,
        note=note,
        run=attrs.get("run"),
        sets=tuple(attrs.get("sets", ())),
    )


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    return kind(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# --- files ----------------------------------------------------------------------------------------


def csv_text(board: Leaderboard) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in board.entries:
        row = asdict(entry)
        row["sets"] = " ".join(entry.sets)
        writer.writerow({key: "" if row[key] is None else row[key] for key in COLUMNS})
    return buffer.getvalue()


def json_data(board: Leaderboard) -> dict[str, Any]:
    best = board.best
    return {
        "sweep": board.sweep.settings.name,
        "fingerprint": board.sweep.fingerprint(),
        "n_trials": board.sweep.settings.n_trials,
        "counts": {**asdict(board.counts), "skipped": board.counts.skipped},
        "best_trial": best.trial if best else None,
        "trials": [{**asdict(entry), "sets": list(entry.sets)} for entry in board.entries],
    }


def write_best(folder: Path, board: Leaderboard) -> tuple[Path, Path] | None:
    """best-spec.yaml and best-recipe.yaml, rebuilt from the best trial's parameters (its run folder may be on
    another machine); None when no trial is complete yet."""
    best = board.best
    if best is None:
        return None
    trial = board.trials[best.trial]
    sweep = board.sweep
    values = {axis.name: decode(axis, trial.params[axis.name]) for axis in sweep.axes}
    try:
        candidate = build_candidate(sweep, values, best.trial)
    except ArchspecError as err:  # the sweep's base changed under it (it cannot, once resolved); say so
        raise ArchspecError(f"{folder}: cannot rebuild trial {best.trial}: {err}") from None
    data = sweep.settings.data
    trained = f"data {data.data_dir or 'installed'}, max_train {data.max_train}, max_test {data.max_test}"
    header = (
        f"# Best of sweep {sweep.settings.name}: trial {best.trial}, test accuracy {best.accuracy:.4f} after "
        f"{counted(best.epochs or 0, 'epoch')} ({trained}).\n"
        f"# {best.params:,} parameters, {best.macs:,} MACs per image. "
        f"From the base: {' '.join(candidate.sets)}\n"
    )
    spec_path, recipe_path = folder / "best-spec.yaml", folder / "best-recipe.yaml"
    write_atomic(spec_path, (header + dump_spec(candidate.spec)).encode(), ArchspecError)
    write_atomic(recipe_path, (header + dump_recipe(candidate.recipe)).encode(), ArchspecError)
    return spec_path, recipe_path


def write_report(folder: Path, board: Leaderboard) -> list[Path]:
    """leaderboard.csv, leaderboard.json, pareto.png, edf.png and the best spec and recipe; the paths written."""
    from archspec.search.plots import plot_edf, plot_pareto

    written = [folder / "leaderboard.csv", folder / "leaderboard.json"]
    write_atomic(written[0], csv_text(board).encode(), ArchspecError)
    write_atomic(written[1], (json.dumps(json_data(board), indent=2) + "\n").encode(), ArchspecError)
    if plot_pareto(board, folder / "pareto.png"):
        written.append(folder / "pareto.png")
    if plot_edf(board, folder / "edf.png"):
        written.append(folder / "edf.png")
    best = write_best(folder, board)
    if best is not None:
        written.extend(best)
    return written


def comparison_path(folders: list[Path], boards: list[Leaderboard]) -> Path:
    """Where `sweep report A B` writes its EDF by default: edf-A-vs-B.png beside the first sweep's folder."""
    return folders[0].parent / f"edf-{'-vs-'.join(board.sweep.settings.name for board in boards)}.png"


def write_comparison(boards: list[Leaderboard], path: Path) -> Path | None:
    """The sweeps' error EDFs on one figure (search.plots.plot_edf_comparison); None if none has a complete trial."""
    from archspec.search.plots import plot_edf_comparison

    if path.suffix.lower() != ".png":
        raise ArchspecError(f"--out {path}: the comparison is a PNG figure; name a .png file")
    return path if plot_edf_comparison(boards, path) else None
