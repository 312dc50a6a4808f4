"""Callbacks: what the training loop tells the world, and the one way to act on a run without editing the loop.

A callback overrides any of the hooks below (each is a no-op here), as Lightning's `Callback` and
detectron2's `HookBase` do. The loop calls them on the main process (rank 0 under torchrun) in order:

    on_start(start)               the run is about to train (after the data and the model are ready)
    on_epoch_start(epoch, total)  before epoch `epoch` (1-based) of `total` training examples
    on_step(update)               every `step_every` optimizer steps (a callback's own attribute; 0: never)
    on_evaluate(epoch, matrix)    the epoch's test confusion matrix (rows true, columns predicted; Start.classes)
    on_epoch_end(epoch, row)      after the epoch's metrics row is computed and written
    on_checkpoint(path, ckpt)     after a checkpoint file is written (last.pt every epoch, best.pt when best)
    on_end(history)               after the last epoch (not when a hook raised)

A hook may raise to stop the run there (a sweep's pruner does); the run folder then holds every
complete epoch, as after a crash. The console output of `archspec train` is itself two callbacks
(`ConsoleLog`, `ProgressBar`), so a user's own goes beside them (docs/training.md). `Guarded` is the base
of the experiment loggers (archspec.train.loggers): a callback whose failure warns once and never stops the run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from archspec.config.diagnostics import counted

if TYPE_CHECKING:
    from archspec.artifacts.checkpoint import Checkpoint
    from archspec.artifacts.rundir import RunDir
    from archspec.recipe.schema import Recipe
    from archspec.spec.schema import ResNetSpec

Log = Callable[[str], None]
Row = Mapping[str, float]
Matrix = Sequence[Sequence[int]]


@dataclass(frozen=True)
class Start:
    """What a run is, as it starts training."""

    spec: ResNetSpec
    recipe: Recipe
    run: RunDir
    first_epoch: int  # 1-based: 1 for a new run, done + 1 when resuming
    data: str  # the dataset's description
    is_sample: bool
    skipped: tuple[str, ...]  # unreadable files left out
    device: str
    precision: str
    processes: int
    warning: str | None = None  # about the precision on this device (runtime.precision_warning)
    classes: tuple[str, ...] = ()  # the dataset's class names: the rows and columns of on_evaluate's matrix
    memory_format: str = "NCHW"  # what the recipe's channels_last resolved to (runtime.resolve_channels_last)
    conv_weight_grad: str = "conv weight grad native"  # runtime.resolve_conv_weight_grad's reason


@dataclass(frozen=True)
class StepUpdate:
    """Progress within an epoch: examples so far (of every process), and the mean loss and accuracy over them."""

    epoch: int
    step: int  # optimizer steps done in this epoch
    steps: int  # optimizer steps in the epoch
    examples: int
    loss: float
    accuracy: float
    lr: float


class Callback:
    """Override the hooks you need; `step_every` > 0 asks for `on_step` every that many optimizer steps."""

    step_every = 0

    def on_start(self, start: Start) -> None:
        """The run is about to train its first (or, resumed, its next) epoch."""

    def on_epoch_start(self, epoch: int, total: int) -> None:
        """Epoch `epoch` (1-based) is about to train on `total` examples."""

    def on_step(self, update: StepUpdate) -> None:
        """`step_every` more optimizer steps are done (and the last step of each epoch)."""

    def on_evaluate(self, epoch: int, matrix: Matrix) -> None:
        """Epoch `epoch`'s test confusion matrix: counts, rows the true class, columns the predicted one."""

    def on_epoch_end(self, epoch: int, row: Row) -> None:
        """Epoch `epoch` is trained, evaluated and written (metrics, curves, checkpoints)."""

    def on_checkpoint(self, path: Path, checkpoint: Checkpoint) -> None:
        """A checkpoint was written to `path`."""

    def on_end(self, history: Sequence[Row]) -> None:
        """The run trained its last epoch."""


class Callbacks(Callback):
    """Several callbacks as one, called in order."""

    def __init__(self, callbacks: Sequence[Callback] = ()) -> None:
        self.callbacks = tuple(callbacks)

    @property
    def step_every(self) -> int:
        """The finest step interval any of them asks for now (a progress bar sets its own per epoch)."""
        return min((c.step_every for c in self.callbacks if c.step_every > 0), default=0)

    @step_every.setter
    def step_every(self, value: int) -> None:
        raise AttributeError("Callbacks.step_every follows its callbacks'; set theirs")

    def on_start(self, start: Start) -> None:
        for callback in self.callbacks:
            callback.on_start(start)

    def on_epoch_start(self, epoch: int, total: int) -> None:
        for callback in self.callbacks:
            callback.on_epoch_start(epoch, total)

    def on_step(self, update: StepUpdate) -> None:
        for callback in self.callbacks:
            if callback.step_every > 0 and (update.step % callback.step_every == 0 or update.step == update.steps):
                callback.on_step(update)

    def on_evaluate(self, epoch: int, matrix: Matrix) -> None:
        for callback in self.callbacks:
            callback.on_evaluate(epoch, matrix)

    def on_epoch_end(self, epoch: int, row: Row) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, row)

    def on_checkpoint(self, path: Path, checkpoint: Checkpoint) -> None:
        for callback in self.callbacks:
            callback.on_checkpoint(path, checkpoint)

    def on_end(self, history: Sequence[Row]) -> None:
        for callback in self.callbacks:
            callback.on_end(history)


class ConsoleLog(Callback):
    """The lines `archspec train` prints: what the run trains on, one line per epoch, the totals at the end."""

    def __init__(self, log: Log = print) -> None:
        self.log = log
        self.epochs = 0
        self.run = ""
        self.curves = ""
        self.examples = 0
        self.seconds = 0.0
        self.total = 0
        self.device = ""

    def on_start(self, start: Start) -> None:
        log = self.log
        self.epochs, self.run, self.curves = start.recipe.epochs, str(start.run), str(start.run.curves)
        log(f"data: {start.data}")
        if start.is_sample:
            log("NOTICE: training on the bundled sample; accuracies are NOT full Fashion-MNIST results")
        if start.skipped:
            log(f"data: skipped {counted(len(start.skipped), 'unreadable file')}, the first: {start.skipped[0]}")
        recipe = start.recipe
        processes = (f", {start.processes} processes (batch {recipe.batch_size // start.processes} each)"
                     if start.processes > 1 else "")  # fmt: skip
        log(f"device: {start.device}, {start.precision}, {start.memory_format}, {start.conv_weight_grad}, "
            f"compile={recipe.compile}{processes}")  # fmt: skip
        if start.warning:
            log(start.warning)
        self.device = start.device

    def on_epoch_start(self, epoch: int, total: int) -> None:
        self.total = total

    def on_epoch_end(self, epoch: int, row: Row) -> None:
        self.log(
            f"epoch {epoch}/{self.epochs}: loss {row['train_loss']:.3f}, train acc {row['train_acc']:.3f}, "
            f"test acc {row['test_acc']:.3f}, {row['examples_per_sec']:.1f} examples/sec, {row['wall_seconds']:.1f} s"
        )
        if row["examples_per_sec"] > 0:
            self.examples += self.total
            self.seconds += self.total / row["examples_per_sec"]

    def on_end(self, history: Sequence[Row]) -> None:
        if history:
            last = history[-1]
            self.log(
                f"loss {last['train_loss']:.3f}, train acc {last['train_acc']:.3f}, test acc {last['test_acc']:.3f}"
            )
        if self.examples:
            self.log(f"{self.examples / self.seconds:.1f} examples/sec on {self.device}")
        self.log(f"run: {self.run} (curves: {self.curves})")


class ProgressBar(Callback):
    """One bar per epoch on stderr: examples done, examples/s (tqdm's own rate), loss and accuracy so far.

    Shown only when stderr is a terminal (--quiet leaves it out).
    """

    def __init__(self, updates_per_epoch: int = 20) -> None:
        self.updates = updates_per_epoch
        self.enabled = sys.stderr.isatty()
        self.step_every = 1 if self.enabled else 0  # narrowed to ~20 updates an epoch in on_epoch_start
        self.bar: Any = None
        self.epochs = 0
        self.batch = 1

    def on_start(self, start: Start) -> None:
        self.epochs = start.recipe.epochs
        self.batch = start.recipe.batch_size

    def on_epoch_start(self, epoch: int, total: int) -> None:
        if not self.enabled:
            return
        steps = -(-total // self.batch)
        self.step_every = max(1, steps // self.updates)
        self.bar = tqdm(total=total, desc=f"epoch {epoch}/{self.epochs}", unit="ex", leave=True, dynamic_ncols=True)

    def on_step(self, update: StepUpdate) -> None:
        if self.bar is None:
            return
        # tqdm shows the rate (ex/s) itself; the postfix adds only what it cannot know
        self.bar.set_postfix(loss=f"{update.loss:.3f}", acc=f"{update.accuracy:.3f}")
        self.bar.update(update.examples - self.bar.n)

    def on_epoch_end(self, epoch: int, row: Row) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Guarded(Callback):
    """A callback whose failure warns once and stops it, never the run: the experiment loggers' base.

    `guard(what, action)` runs `action`; the first exception is one warning line saying what was not
    logged, and every later `guard` call does nothing.
    """

    name = "logger"

    def __init__(self, log: Log = print) -> None:
        self.log = log
        self.broken = False

    def guard(self, what: str, action: Callable[[], None]) -> None:
        if self.broken:
            return
        try:
            action()
        except Exception as err:  # whatever the logging library raises: the run folder keeps everything
            self.broken = True
            reason = " ".join(str(err).split())[:300]  # a server's answer can be a page of HTML
            self.log(f"WARNING: {self.name}: could not log {what} ({type(err).__name__}: {reason}), nor will it log "
                     "anything after; training goes on, the run folder keeps every metric")  # fmt: skip

    def finish(self, status: str = "FINISHED") -> None:
        """Close what the logger holds open; for a run that a hook stopped (on_end is not called then), with
        `status` FAILED or KILLED (a sweep's pruned trial). Done once, by on_end for a run that ends."""


def flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested mappings and lists as (dotted.path, scalar) pairs: `optimizer.lr`, `stages[1].channels`."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            yield from flatten(value, f"{prefix}[{index}]")
    else:
        yield prefix, data


def hyperparameters(start: Start) -> dict[str, Any]:
    """The spec and recipe flattened (spec.*, recipe.*), with the spec hash: what a logger records of a run."""
    from archspec.spec.io import spec_hash

    params: dict[str, Any] = {"spec_hash": spec_hash(start.spec)}
    params.update((f"spec.{key}", value) for key, value in flatten(start.spec.model_dump(mode="json")))
    params.update((f"recipe.{key}", value) for key, value in flatten(start.recipe.model_dump(mode="json")))
    return params


class EpochHook(Callback):
    """A plain function of (epoch, metrics row) as a callback: `EpochHook(lambda epoch, row: ...)`."""

    def __init__(self, hook: Callable[[int, Row], Any]) -> None:
        self.hook = hook

    def on_epoch_end(self, epoch: int, row: Row) -> None:
        self.hook(epoch, row)


__all__ = ["Callback", "Callbacks", "ConsoleLog", "EpochHook", "Guarded", "Matrix", "ProgressBar", "Start",
           "StepUpdate", "flatten", "hyperparameters"]  # fmt: skip
