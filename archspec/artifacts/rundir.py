"""The run folder: the one place that knows its layout.

    RUN/spec.yaml                the resolved spec (with its hash in a comment)
    RUN/recipe.yaml              the resolved recipe (overrides applied)
    RUN/run.json                 data source, classes, preprocessing, device, precision, versions
    RUN/metrics.jsonl|.csv       one row per epoch
    RUN/curves.png               train loss, train acc, test acc against epochs
    RUN/checkpoints/last.pt      after every epoch; best.pt when the test accuracy is the best so far
    RUN/confusion-<name>.png     written by `archspec evaluate` for checkpoints/<name>.pt
    RUN/.lock                    held (flock) by the one process writing into the folder

Every file is written whole to a temporary file and renamed (archspec.config.files.write_atomic), so a
killed run leaves no half-written file. No torch here: checkpoints are (de)serialised by checkpoint.py.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from archspec.config.files import write_atomic
from archspec.errors import ArchspecError

COLUMNS = ("epoch", "train_loss", "train_acc", "test_acc", "examples_per_sec", "wall_seconds", "lr")


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
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock (creating the folder) for the duration; refuse if another process holds it.

        flock is released by the kernel when the holder exits, however it exits, so a killed run never
        leaves a stale lock; the lock file itself stays (removing it would race with the next holder).
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise ArchspecError(f"{self.path}: cannot create the run folder: {err.strerror or err}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise ArchspecError(
                    f"{self.path}: another archspec process (pid {holder}) is writing into this run folder; "
                    "wait for it to finish or pick another --out"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the flock

    # --- files ----------------------------------------------------------------------------------

    def write_text(self, path: Path, text: str) -> None:
        write_atomic(path, text.encode(), ArchspecError)

    def write_start(self, spec_text: str, recipe_text: str, info: dict[str, Any]) -> None:
        """The files a run writes before it trains: spec, recipe and run.json."""
        self.write_text(self.spec_file, spec_text)
        self.write_text(self.recipe_file, recipe_text)
        self.write_info(info)

    def write_info(self, info: dict[str, Any]) -> None:
        self.write_text(self.info_file, json.dumps(info, indent=2) + "\n")

    def read_info(self) -> dict[str, Any]:
        """run.json as a dict ({} when there is none); ArchspecError naming it when it is unreadable."""
        if not self.info_file.is_file():
            return {}
        try:
            info = json.loads(self.info_file.read_text())
        except (OSError, ValueError) as err:
            raise ArchspecError(f"{self.info_file}: unreadable run record ({err})") from None
        if not isinstance(info, dict):
            raise ArchspecError(f"{self.info_file}: unreadable run record (not a JSON object)")
        return info

    def write_metrics(self, rows: Sequence[dict[str, Any]]) -> None:
        """metrics.jsonl and metrics.csv from the rows so far (the trainer draws curves.png beside them)."""
        self.write_text(self.metrics_jsonl, "".join(json.dumps({k: row[k] for k in COLUMNS}) + "\n" for row in rows))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        self.write_text(self.metrics_csv, buffer.getvalue())


__all__ = ["COLUMNS", "RunDir"]
