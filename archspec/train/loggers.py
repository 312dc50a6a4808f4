"""Experiment loggers as training callbacks: `archspec train --log tensorboard,mlflow`.

A logger is a Callback (archspec.train.callbacks) beside the console's own, chosen by name (`LOGGERS`, the
one vocabulary `--log` of train and sweep reads), each behind an optional extra whose absence is one line
naming it, before any data is read. The run folder stays the record: a logger that fails mid-run (a full
disk, a tracking server gone) says so in one warning line (`Guarded`) and stops logging, and training goes on.
MLflow's logger is archspec.train.tracking.

TensorBoard (`archspec[tensorboard]`): event files in RUN/tensorboard/, readable by `tensorboard --logdir
runs/`. One step axis, the global optimizer step: per-step loss, accuracy, learning rate and examples/s
every `step_every` steps; per-epoch every metrics.csv column at the epoch's last step; the spec and
recipe as text and as hyperparameters (flattened), the curves and the test confusion matrix as images at
each epoch's last step. A resumed run purges the
events from its first step on (TensorBoard's purge_step), so the epoch it retrains is not there twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from archspec.errors import ArchspecError
from archspec.recipe.schema import dump_recipe
from archspec.spec.io import dump_spec
from archspec.train.callbacks import Callback, Guarded, Log, Matrix, Row, Start, StepUpdate, flatten, hyperparameters
from archspec.train.plots import confusion_png, png_array
from archspec.train.tracking import MlflowLogger, Tracking

TENSORBOARD_DIR = "tensorboard"  # inside the run folder


class TensorBoardLogger(Guarded):
    """Event files in RUN/tensorboard/ (see the module's docstring)."""

    name = "tensorboard"

    def __init__(self, log: Log = print, step_every: int = 10) -> None:
        super().__init__(log)
        from torch.utils.tensorboard import SummaryWriter  # the extra's check: make_loggers imports it first

        self.writer_class = SummaryWriter
        self.step_every = step_every
        self.writer: Any = None
        self.start: Start | None = None
        self.steps = 0  # optimizer steps per epoch
        self.epoch = 0
        self.clock = (0.0, 0)  # (time, examples) at the last step update
        self.matrix: Matrix | None = None  # the epoch's test confusion matrix

    def on_start(self, start: Start) -> None:
        self.start = start

    def on_epoch_start(self, epoch: int, total: int) -> None:
        assert self.start is not None
        self.epoch = epoch
        self.steps = math.ceil(total / self.start.recipe.batch_size)  # as the loop counts them
        self.clock = (time.perf_counter(), 0)
        if self.writer is None:
            self.guard("the run's start", self._open)

    def _open(self) -> None:
        start = self.start
        assert start is not None
        folder = start.run.path / TENSORBOARD_DIR
        first = (start.first_epoch - 1) * self.steps  # the last step already logged (the done epochs' last)
        # resumed: events from the first step retrained on (a killed run's partial epoch) are dropped
        self.writer = self.writer_class(str(folder), purge_step=first + 1 if first > 0 else None)
        self.writer.add_text("spec", _code(dump_spec(start.spec)), first)
        self.writer.add_text("recipe", _code(dump_recipe(start.recipe)), first)

    def _step(self, epoch: int, step: int) -> int:
        return (epoch - 1) * self.steps + step

    def on_step(self, update: StepUpdate) -> None:
        def write() -> None:
            now, seen = time.perf_counter(), update.examples
            then, before = self.clock
            step = self._step(update.epoch, update.step)
            self.writer.add_scalar("step/train_loss", update.loss, step)
            self.writer.add_scalar("step/train_acc", update.accuracy, step)
            self.writer.add_scalar("step/lr", update.lr, step)
            if now > then and seen > before:
                self.writer.add_scalar("step/examples_per_sec", (seen - before) / (now - then), step)
            self.clock = (now, seen)

        if self.writer is not None:
            self.guard(f"step {update.step} of epoch {update.epoch}", write)

    def on_evaluate(self, epoch: int, matrix: Matrix) -> None:
        self.matrix = matrix

    def on_epoch_end(self, epoch: int, row: Row) -> None:
        def write() -> None:
            step = self._step(epoch, self.steps)
            for key, value in row.items():
                if key != "epoch":
                    self.writer.add_scalar(f"epoch/{key}", value, step)
            self.writer.add_scalar("epoch/epoch", epoch, step)
            assert self.start is not None
            curves = self.start.run.curves
            if curves.is_file():
                self.writer.add_image("curves", png_array(curves.read_bytes()), step, dataformats="HWC")
            if self.matrix is not None:
                title = f"{self.start.spec.name}: test confusion matrix, epoch {epoch}"
                picture = confusion_png(self.matrix, self.start.classes or _numbers(self.matrix), title)
                self.writer.add_image("confusion_matrix", png_array(picture), step, dataformats="HWC")
            self.writer.flush()

        if self.writer is not None:
            self.guard(f"epoch {epoch}", write)

    def on_end(self, history: Sequence[Row]) -> None:
        def write() -> None:
            from torch.utils.tensorboard.summary import hparams

            assert self.start is not None
            params = {key: value if isinstance(value, int | float | str | bool) else str(value)
                      for key, value in hyperparameters(self.start).items()}  # fmt: skip
            last = history[-1]
            metrics = {"hparam/test_acc": last["test_acc"], "hparam/best_test_acc": max(r["test_acc"] for r in history)}
            for summary in hparams(params, metrics):  # type: ignore[no-untyped-call]
                self.writer.file_writer.add_summary(summary)
            step = self._step(int(last["epoch"]), self.steps)
            for key, value in metrics.items():
                self.writer.add_scalar(key, value, step)
            self.writer.flush()

        if self.writer is not None and history:
            self.guard("the hyperparameters", write)
        self.close()

    def finish(self, status: str = "FINISHED") -> None:
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.guard("the last events", self.writer.close)
            self.writer = None


def _code(text: str) -> str:
    """YAML as a Markdown code block (TensorBoard renders text as Markdown)."""
    return "```yaml\n" + text + "```"


def _numbers(matrix: Matrix) -> list[str]:
    return [str(index) for index in range(len(matrix))]


@dataclass(frozen=True)
class LoggerOptions:
    """What a logger may need besides the log: MLflow's store and, for a sweep's trial, its parent run."""

    tracking: Tracking = field(default_factory=Tracking)
    step_every: int = 10  # optimizer steps between per-step scalars


# name -> (the extra that brings it, the module it needs, its callback)
LOGGERS: dict[str, tuple[str, str, Callable[[Log, LoggerOptions], Callback]]] = {
    "tensorboard": ("tensorboard", "tensorboard", lambda log, options: TensorBoardLogger(log, options.step_every)),
    "mlflow": ("mlflow", "mlflow", lambda log, options: MlflowLogger(log, options.tracking, options.step_every)),
}


def parse_loggers(text: str) -> list[str]:
    """`tensorboard,...` as logger names, each known (ArchspecError listing them otherwise), none twice."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in LOGGERS:
            raise ArchspecError(f"--log {text}: unknown logger {name!r}; choose from {', '.join(LOGGERS)}")
    return list(dict.fromkeys(names))


def check_extras(names: Sequence[str]) -> None:
    """One line naming the extra of the first logger whose package is missing."""
    import importlib.util

    for name in names:
        extra, module, _ = LOGGERS[name]
        if importlib.util.find_spec(module) is None:
            raise ArchspecError(f"--log {name} needs the {module} package: pip install 'archspec[{extra}]'")


def make_loggers(names: Sequence[str], log: Log = print, options: LoggerOptions = LoggerOptions()) -> list[Callback]:
    """The loggers named, each checked for its extra first (one line naming the extra when it is missing),
    each ready to log: MLflow's tracking server has answered (one line within seconds when it does not)."""
    check_extras(names)
    return [LOGGERS[name][2](log, options) for name in names]


__all__ = ["LOGGERS", "TENSORBOARD_DIR", "LoggerOptions", "TensorBoardLogger", "check_extras", "flatten",
           "hyperparameters", "make_loggers", "parse_loggers"]  # fmt: skip
