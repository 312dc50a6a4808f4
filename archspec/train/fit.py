"""The epochs of a run: build the session, train and evaluate each epoch, record it in the run folder.

`fit(context, data, preprocessing, state)` is what train_run and resume_run share; each step is a small
function of a `Context` (what the run is: spec, recipe, folder, device, processes, log).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from archspec.arch.guard import Limits
from archspec.artifacts.checkpoint import save_checkpoint
from archspec.artifacts.rundir import RunDir
from archspec.config.diagnostics import counted
from archspec.data import Dataset
from archspec.data.batches import Batches, on_device
from archspec.data.preprocess import Preprocessing
from archspec.errors import DataError
from archspec.nn.build import build
from archspec.recipe.schema import Recipe, dump_recipe
from archspec.runtime import cudnn_benchmark, precision_warning, resolve_precision
from archspec.spec.io import dump_spec, spec_hash
from archspec.spec.schema import ResNetSpec
from archspec.train.distributed import World
from archspec.train.finetune import Pretrained
from archspec.train.init import init_weights
from archspec.train.loop import (
    Log,
    Session,
    accuracy,
    confusion_matrix,
    make_session,
    restore_session,
    session_state,
    train_epoch,
)
from archspec.train.plots import plot_curves


def silent(message: str) -> None:
    """The log of ranks other than 0."""


@dataclass(frozen=True)
class Context:
    """What a run is, for every step of it."""

    spec: ResNetSpec
    recipe: Recipe
    run: RunDir
    device: torch.device
    world: World = field(default_factory=World)
    log: Log = print
    quiet: bool = False
    limits: Limits | None = None
    init_from: Pretrained | None = None  # weights copied in after the recipe's initialisation (--init-from)
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None  # after each written epoch; may raise to stop

    @property
    def title(self) -> str:
        names = dict.fromkeys((self.spec.name, self.recipe.name))  # a sweep's trial names both alike
        return " / ".join(names)


def preprocessing_for(spec: ResNetSpec, recipe: Recipe, data: Dataset) -> Preprocessing:
    """The input pipeline a model trained on `data` needs: the spec's size, the data's statistics."""
    channels = spec.input.channels
    if not recipe.normalize:
        return Preprocessing(spec.input.height, spec.input.width, channels, (0.0,) * channels, (1.0,) * channels)
    assert data.mean is not None and data.std is not None, "open_dataset(stats=True) fills them in"
    if len(data.mean) != channels:
        raise DataError(
            f"data.mean and data.std have {len(data.mean)} values; spec {spec.name} takes {channels} channels"
        )
    return Preprocessing(spec.input.height, spec.input.width, channels, data.mean, data.std)


@dataclass
class Totals:
    """Training examples and seconds over the epochs this process trained (for the examples/sec line)."""

    examples: int = 0
    seconds: float = 0.0


def fit(context: Context, data: Dataset, preprocessing: Preprocessing, state: dict[str, Any] | None) -> None:
    """Train from `state` (None: from scratch) to the recipe's last epoch, writing the run folder."""
    assert data.train is not None, "a run opens its dataset with the training split"
    session, start = start_session(context, preprocessing, len(data.train), state)
    announce(context, data)
    train, test = on_device(data.train, context.device), on_device(data.test, context.device)
    totals = Totals()
    best = max((row["test_acc"] for row in session.history), default=-1.0)
    with cudnn_benchmark(context.device):
        for epoch in range(start, context.recipe.epochs):
            row = run_epoch(context, session, train, test, epoch, data.num_classes, totals)
            if context.world.is_main:  # rank 0 writes checkpoints, metrics and plots
                best = record_epoch(context, session, data, preprocessing, row, best)
                if context.on_epoch is not None:
                    context.on_epoch(epoch + 1, row)
    finish(context, session, totals)


def start_session(
    context: Context, preprocessing: Preprocessing, train_count: int, state: dict[str, Any] | None
) -> tuple[Session, int]:
    """A fresh model and optimizer (every rank from the same seed), restored from `state` when resuming."""
    recipe = context.recipe
    torch.manual_seed(recipe.seed)
    model = build(context.spec)  # train_run and resume_run checked the limits
    init_weights(model, recipe.init, context.spec)
    if context.init_from is not None and state is None:  # after the data and the spec agreed
        context.init_from.apply(model, context.run.init_from_record if context.world.is_main else None)
        if context.init_from.summary:
            context.log(context.init_from.summary)
    steps_per_epoch = -(-train_count // recipe.batch_size)
    session = make_session(model, recipe, preprocessing, context.device, steps_per_epoch, context.world)
    return session, restore_session(session, state) if state is not None else 0


def announce(context: Context, data: Dataset) -> None:
    log, recipe, world = context.log, context.recipe, context.world
    log(f"data: {data.describe()}")
    if data.is_sample:
        log("NOTICE: training on the bundled sample; accuracies are NOT full Fashion-MNIST results")
    if data.skipped:
        log(f"data: skipped {counted(len(data.skipped), 'unreadable file')}, the first: {data.skipped[0]}")
    _, precision = resolve_precision(recipe.precision, context.device)
    processes = f", {world.size} processes (batch {recipe.batch_size // world.size} each)" if world.size > 1 else ""
    log(f"device: {context.device}, {precision}, channels_last={recipe.channels_last}, compile={recipe.compile}"
        f"{processes}")  # fmt: skip
    warning = precision_warning(recipe.precision, context.device)
    if warning:
        log(warning)


def run_epoch(
    context: Context, session: Session, train: Batches, test: Batches, epoch: int, classes: int, totals: Totals
) -> dict[str, Any]:
    """Train one epoch, then evaluate; the metrics row."""
    recipe = context.recipe
    lr = session.optimizer.param_groups[0]["lr"]
    began = time.perf_counter()
    label = f"epoch {epoch + 1}/{recipe.epochs}"
    loss, train_acc, count = train_epoch(session, train, epoch, context.quiet, label)
    trained = time.perf_counter() - began
    matrix = confusion_matrix(
        session.model, test, session.test_prep, recipe.eval_batch_size, context.device, session.dtype,
        context.world, classes=classes,
    )  # fmt: skip
    row = {
        "epoch": epoch + 1,
        "train_loss": loss,
        "train_acc": train_acc,
        "test_acc": accuracy(matrix),
        "examples_per_sec": count / trained,
        "wall_seconds": time.perf_counter() - began,
        "lr": lr,
    }
    session.history.append(row)
    totals.examples += count
    totals.seconds += trained
    return row


def record_epoch(
    context: Context,
    session: Session,
    data: Dataset,
    preprocessing: Preprocessing,
    row: dict[str, Any],
    best: float,
) -> float:
    """Checkpoints (last, and best when it is), metrics and curves, one log line; the best accuracy so far."""
    run, spec = context.run, context.spec
    checkpoint = {
        **session_state(session, row["epoch"]),
        "spec_text": dump_spec(spec),
        "spec_hash": spec_hash(spec),
        "recipe_text": dump_recipe(context.recipe),
        "dataset": data.describe(),
        "classes": list(data.classes),
        "preprocess": preprocessing.to_dict(),
    }
    save_checkpoint(run.last, checkpoint)
    if row["test_acc"] > best:
        best = row["test_acc"]
        save_checkpoint(run.best, checkpoint)
    write_metrics(context, session)
    context.log(
        f"epoch {row['epoch']}/{context.recipe.epochs}: loss {row['train_loss']:.3f}, "
        f"train acc {row['train_acc']:.3f}, test acc {row['test_acc']:.3f}, "
        f"{row['examples_per_sec']:.1f} examples/sec, {row['wall_seconds']:.1f} s"
    )
    return best


def write_metrics(context: Context, session: Session) -> None:
    """metrics.jsonl, metrics.csv and curves.png from the epochs so far."""
    context.run.write_metrics(session.history)
    if session.history:
        plot_curves(session.history, context.run.curves, context.title)


def finish(context: Context, session: Session, totals: Totals) -> None:
    log, run = context.log, context.run
    if context.world.is_main:
        write_metrics(context, session)
    if session.history:
        last = session.history[-1]
        log(f"loss {last['train_loss']:.3f}, train acc {last['train_acc']:.3f}, test acc {last['test_acc']:.3f}")
    if totals.examples:
        log(f"{totals.examples / totals.seconds:.1f} examples/sec on {context.device}")
    log(f"run: {run} (curves: {run.curves})")
