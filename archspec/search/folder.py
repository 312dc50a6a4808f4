"""A sweep folder on disk and the lock that keeps two drivers out of it.

DIR/sweep.json        the resolved sweep (base spec and recipe as data), its fingerprint and storage
DIR/sweep.yaml        the sweep file as given, for the record
DIR/study.db          the Optuna study (SQLite; absent with --storage postgresql://...)
DIR/trials/NNNN/      trial NNNN: an ordinary run folder (spec, recipe, metrics, curves, checkpoints)
DIR/workers/N.log     what worker process N said when it stopped with an error
DIR/mlflow.json       `--log mlflow`: the MLflow store and the sweep's parent run (DIR/mlflow.db: the default store)
DIR/leaderboard.csv|.json, pareto.png, edf.png, best-spec.yaml, best-recipe.yaml   (the report)
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from archspec.config.files import write_atomic
from archspec.errors import ArchspecError
from archspec.search.space import ResolvedSweep

RECORD = "sweep.json"
MLFLOW_RECORD = "mlflow.json"
LOCK = ".lock"
FORMAT = 1


@dataclass(frozen=True)
class SweepRecord:
    sweep: ResolvedSweep
    fingerprint: str
    storage: str  # without any password
    created: str


def is_sweep_folder(folder: Path) -> bool:
    return (folder / RECORD).is_file()


def write_record(folder: Path, sweep: ResolvedSweep, storage: str, source_text: str, sets: list[str]) -> None:
    record = {
        "format": FORMAT,
        "name": sweep.settings.name,
        "fingerprint": sweep.fingerprint(),
        "storage": storage,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": sweep.source,
        "sweep": sweep.to_json(),
    }
    header = f"# {sweep.source}" + "".join(f" --set {item}" for item in sets) + "\n"
    write_atomic(folder / "sweep.yaml", (header + source_text).encode(), ArchspecError)
    write_atomic(folder / RECORD, (json.dumps(record, indent=2) + "\n").encode(), ArchspecError)


def read_record(folder: Path) -> SweepRecord:
    path = folder / RECORD
    if not path.is_file():
        raise ArchspecError(f"{folder}: not a sweep folder (no {RECORD}); start one with archspec sweep SWEEP.yaml")
    try:
        data: Any = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        sweep = ResolvedSweep.from_json(data["sweep"], str(path))
        return SweepRecord(sweep, str(data["fingerprint"]), str(data["storage"]), str(data["created"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ArchspecError(f"{path}: unreadable sweep record ({err})") from None


class FolderLock:
    """An exclusive lock on a sweep folder for one driver process; the kernel drops it if the process dies."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK
        self.handle: IO[str] | None = None

    def __enter__(self) -> FolderLock:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ArchspecError(
                f"{self.path.parent}: a sweep is running there ({holder}); wait for it or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


def run_folder(folder: Path, number: int) -> Path:
    return folder / "trials" / f"{number:04d}"


def worker_log(folder: Path, index: int) -> Path:
    return folder / "workers" / f"{index}.log"
