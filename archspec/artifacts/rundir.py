"""The run folder: the one place that knows its layout.

    RUN/spec.yaml                the resolved spec (with its hash in a comment)
    RUN/recipe.yaml              the resolved recipe (overrides applied)
    RUN/run.json                 data source, classes, preprocessing, device, precision, versions
    RUN/metrics.jsonl|.csv       one row per epoch
    RUN/curves.png               train loss, train acc, test acc against epochs
    RUN/checkpoints/last.pt      after every epoch; best.pt when the test accuracy is the best so far
    RUN/confusion-<name>.png     written by `archspec evaluate` for checkpoints/<name>.pt
    RUN/.lock                    held (flock) by the one process writing into the folder
    RUN/tensorboard/             event files of `--log tensorboard` (archspec.train.loggers)
    RUN/mlflow.json              `--log mlflow`: the MLflow store and run id a resume appends to (train.tracking)

Every file is written whole to a temporary file and renamed (archspec.config.files.write_atomic), so a
killed run leaves no half-written file. No torch here: checkpoints are (de)serialised by checkpoint.py.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archspec.artifacts.migrations import RUN_INFO, RUN_INFO_PREFIX, archspec_version, run_info_version
from archspec.config.files import write_atomic
from archspec.data.base import DataOptions
from archspec.data.preprocess import Preprocessing
from archspec.errors import ArchspecError, CheckpointError
from archspec.spec.io import dump_spec, spec_hash
from archspec.spec.schema import ResNetSpec

COLUMNS = ("epoch", "train_loss", "train_acc", "test_acc", "examples_per_sec", "wall_seconds", "lr")
EMA_COLUMN = "test_acc_ema"  # the test accuracy of the weight average: only in runs whose recipe has ema
OPTIONAL_COLUMNS = (EMA_COLUMN,)


@dataclass(frozen=True)
class RunRecord:
    """What run.json says of a run when it starts: its data, how it was prepared, where and with what it ran."""

    data: str  # the dataset's description
    is_sample: bool
    data_options: DataOptions
    classes: tuple[str, ...]
    preprocess: Preprocessing
    device: str
    precision: str
    processes: int
    torch: str
    threads: int

    def to_json(self) -> dict[str, Any]:
        options = self.data_options
        return {
            "processes": self.processes,
            "data": self.data,
            "is_sample": self.is_sample,
            "data_options": {
                "data_dir": options.data_dir,
                "max_train": options.max_train,
                "max_test": options.max_test,
            },
            "classes": list(self.classes),
            "preprocess": self.preprocess.to_dict(),
            "device": self.device,
            "precision": self.precision,
            "torch": self.torch,
            "python": platform.python_version(),
            "machine": platform.processor() or platform.machine(),
            "threads": self.threads,
        }


class RunDir:
    """A run folder (which need not exist yet) and the paths of everything in it."""

    SPEC = "spec.yaml"
    RECIPE = "recipe.yaml"
    INFO = "run.json"
    METRICS_JSONL = "metrics.jsonl"
    METRICS_CSV = "metrics.csv"
    CURVES = "curves.png"
    CHECKPOINTS = "checkpoints"
    LAST = "last.pt"
    BEST = "best.pt"
    LOCK = ".lock"
    INIT_FROM = "init-from.json"  # what --init-from loaded, adapted and left new (archspec.train.finetune)
    MLFLOW = "mlflow.json"  # the MLflow run this folder is logged to (archspec.train.tracking)

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    # --- paths ----------------------------------------------------------------------------------

    @property
    def spec_file(self) -> Path:
        return self.path / self.SPEC

    @property
    def recipe_file(self) -> Path:
        return self.path / self.RECIPE

    @property
    def info_file(self) -> Path:
        return self.path / self.INFO

    @property
    def metrics_jsonl(self) -> Path:
        return self.path / self.METRICS_JSONL

    @property
    def metrics_csv(self) -> Path:
        return self.path / self.METRICS_CSV

    @property
    def curves(self) -> Path:
        return self.path / self.CURVES

    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    @property
    def last(self) -> Path:
        return self.checkpoints / self.LAST

    @property
    def best(self) -> Path:
        return self.checkpoints / self.BEST

    @property
    def lock_file(self) -> Path:
        return self.path / self.LOCK

    @property
    def init_from_record(self) -> Path:
        return self.path / self.INIT_FROM

    @property
    def mlflow_record(self) -> Path:
        return self.path / self.MLFLOW

    def confusion_png(self, checkpoint: Path | None = None) -> Path:
        """Where `evaluate` draws the confusion matrix of `checkpoint` (default: best.pt)."""
        return self.path / f"confusion-{(checkpoint or self.best).stem}.png"

    @classmethod
    def is_run(cls, path: Path | str) -> bool:
        """Whether `path` is a run folder (it has, or had, a checkpoints folder or its recipe)."""
        run = cls(path)
        return run.path.is_dir() and (run.checkpoints.is_dir() or run.recipe_file.is_file())

    @classmethod
    def of_checkpoint(cls, checkpoint: Path) -> RunDir | None:
        """The run folder a checkpoint file lies in (RUN/checkpoints/x.pt), or None for a loose file."""
        if checkpoint.parent.name == cls.CHECKPOINTS:
            return cls(checkpoint.parent.parent)
        return None

    @staticmethod
    def checkpoint_of(path: Path) -> Path:
        """A checkpoint file as given, or a run folder's best checkpoint."""
        return RunDir(path).best if path.is_dir() else path

    @staticmethod
    def confusion_png_for(path: Path) -> Path:
        """Where `evaluate PATH` writes its PNG: in the run folder of a run or of RUN/checkpoints/x.pt,
        else beside the checkpoint file."""
        if path.is_dir():
            return RunDir(path).confusion_png()
        run = RunDir.of_checkpoint(path)
        return run.confusion_png(path) if run else path.parent / f"confusion-{path.stem}.png"

    # --- state ----------------------------------------------------------------------------------

    def has_checkpoint(self) -> bool:
        return self.last.is_file()

    def clear_outputs(self) -> None:
        """Remove what an earlier attempt that never finished an epoch may have left (restart)."""
        for path in (self.metrics_jsonl, self.metrics_csv, self.curves):
            path.unlink(missing_ok=True)

    @contextmanager
    def lock(self, wait: float = 0.0) -> Iterator[None]:
        """Hold the folder's lock (creating the folder) for the duration; refuse if another process holds it
        after `wait` seconds (0: at once; a restarted torchrun attempt waits for the attempt it replaces to be
        gone, which torchrun ensures before it restarts).

        flock is released by the kernel when the holder exits, however it exits, so a killed run never
        leaves a stale lock; the lock file itself stays (removing it would race with the next holder),
        except in a folder this lock created and nothing else wrote into: a run refused before it wrote
        anything (its data did not fit the spec, say) leaves no folder behind.
        """
        created = not self.path.exists()
        fd = self._locked(time.monotonic() + wait)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            if created:
                self._remove_if_unused()
            os.close(fd)  # releases the flock

    def _locked(self, deadline: float) -> int:
        """A descriptor of the lock file, its exclusive lock held; retried until `deadline` while another holds
        it (and again if the holder removed the folder as it left, so that the lock held is the file's now)."""
        while True:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as err:
                raise ArchspecError(f"{self.path}: cannot create the run folder: {err.strerror or err}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() < deadline:
                    os.close(fd)
                    time.sleep(0.1)
                    continue
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise ArchspecError(
                    f"{self.path}: another archspec process (pid {holder}) is writing into this run folder; "
                    "wait for it to finish or pick another --out"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_file).st_ino
            except OSError:
                same = False
            if same:
                return fd
            os.close(fd)

    def writer(self) -> str | None:
        """The pid of the process writing into the folder now (its lock held), or None when none is.

        Probes with a shared lock dropped at once; the lock file is never created here.
        """
        try:
            fd = os.open(self.lock_file, os.O_RDONLY)
        except OSError:
            return None  # no lock file: nothing ever trained here, or it is not ours to read
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def _remove_if_unused(self) -> None:
        """Remove the folder if it holds nothing but its lock file (still held, so no one else is in it)."""
        try:
            if [entry.name for entry in self.path.iterdir()] == [self.LOCK]:
                self.lock_file.unlink()
                self.path.rmdir()
        except OSError:
            pass  # something appeared meanwhile: leave the folder as it is

    # --- files ----------------------------------------------------------------------------------

    def write_text(self, path: Path, text: str) -> None:
        write_atomic(path, text.encode(), ArchspecError)

    def write_start(self, spec: ResNetSpec, recipe_text: str, record: RunRecord) -> None:
        """The files a run writes before it trains: spec (with its hash in a comment), recipe and run.json."""
        self.write_text(self.spec_file, f"# archspec spec hash: {spec_hash(spec)}\n{dump_spec(spec)}")
        self.write_text(self.recipe_file, recipe_text)
        self.write_info(record.to_json())

    def write_info(self, info: dict[str, Any]) -> None:
        """run.json in the current format (its version and the archspec that wrote it first)."""
        stamped = {"format": f"{RUN_INFO_PREFIX}{RUN_INFO.current}", "archspec": archspec_version(), **info}
        self.write_text(self.info_file, json.dumps(stamped, indent=2) + "\n")

    def read_info(self) -> dict[str, Any]:
        """run.json as a dict in the current format ({} when there is none), migrated from an earlier one;
        ArchspecError naming it when it is unreadable or newer than this archspec."""
        if not self.info_file.is_file():
            return {}
        try:
            info = json.loads(self.info_file.read_text())
        except (OSError, ValueError) as err:
            raise ArchspecError(f"{self.info_file}: unreadable run record ({err})") from None
        if not isinstance(info, dict):
            raise ArchspecError(f"{self.info_file}: unreadable run record (not a JSON object)")
        version = run_info_version(info)
        if version is None:
            raise ArchspecError(f"{self.info_file}: unreadable run record (format {str(info.get('format'))[:40]!r} "
                                f"is not {RUN_INFO_PREFIX}N)")  # fmt: skip
        return RUN_INFO.migrate(info, version, str(self.info_file), ArchspecError)

    def data_options(self) -> DataOptions:
        """The data options the run was started with (run.json; all None when it has no record)."""
        try:
            stored = self.read_info().get("data_options", {})
            own = DataOptions(stored.get("data_dir"), stored.get("max_train"), stored.get("max_test"))
        except (AttributeError, ArchspecError) as err:
            raise ArchspecError(
                f"{self.info_file}: unreadable run record ({err}); pass --data-dir/--max-train/--max-test"
            ) from None
        counts_ok = all(n is None or (type(n) is int and n > 0) for n in (own.max_train, own.max_test))
        if not (counts_ok and (own.data_dir is None or isinstance(own.data_dir, str))):
            raise CheckpointError(f"{self.info_file}: malformed run record: data_options must hold a folder name "
                                  "and positive counts; pass --data-dir/--max-train/--max-test")  # fmt: skip
        return own

    def read_metrics(self) -> list[dict[str, float]]:
        """The rows of metrics.jsonl, one per epoch trained ([] when there is none yet); ArchspecError naming the
        file and line where one is not a row of the metrics columns."""
        if not self.metrics_jsonl.is_file():
            return []
        rows = []
        try:
            lines = self.metrics_jsonl.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise ArchspecError(f"{self.metrics_jsonl}: unreadable ({err})") from None
        for number, line in enumerate(lines, start=1):
            try:
                row = json.loads(line)
                rows.append({key: float(row[key]) for key in COLUMNS})
            except (ValueError, TypeError, KeyError) as err:
                raise ArchspecError(f"{self.metrics_jsonl}:{number}: not a metrics row ({err})") from None
        return rows

    def write_metrics(self, rows: Sequence[dict[str, Any]]) -> None:
        """metrics.jsonl and metrics.csv from the rows so far (the trainer draws curves.png beside them), with the
        optional columns that any row has (a row without one, e.g. an epoch whose average was not tested: no key
        in its JSON line, an empty cell in the CSV)."""
        columns = (*COLUMNS, *(c for c in OPTIONAL_COLUMNS if any(c in row for row in rows)))
        lines = (json.dumps({k: row[k] for k in columns if k in row}) + "\n" for row in rows)
        self.write_text(self.metrics_jsonl, "".join(lines))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="", extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        self.write_text(self.metrics_csv, buffer.getvalue())


__all__ = ["COLUMNS", "EMA_COLUMN", "OPTIONAL_COLUMNS", "RunDir", "RunRecord"]
