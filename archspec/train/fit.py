"""The epochs of a run: build the session, train and evaluate each epoch, record it in the run folder.

`fit(plan, data, preprocessing, callbacks)` trains a planned run (archspec.train.plan) from its checkpoint
(or from scratch) to the recipe's last epoch; every step is a small function of the plan. What the run
tells the world goes through the callbacks (archspec.train.callbacks), called on the main process only.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import torch

from archspec.artifacts.checkpoint import Checkpoint, best_accuracy
from archspec.artifacts.rundir import EMA_COLUMN
from archspec.data import Dataset
from archspec.data.batches import Batches, on_device
from archspec.data.preprocess import Preprocessing
from archspec.errors import DataError
from archspec.nn.build import build
from archspec.recipe.schema import Recipe, dump_recipe
from archspec.runtime import (
    cudnn_benchmark,
    precision_warning,
    resolve_channels_last,
    resolve_conv_weight_grad,
    resolve_precision,
)
from archspec.spec.schema import ResNetSpec
from archspec.train.callbacks import Callback, Callbacks, Start
from archspec.train.init import init_weights
from archspec.train.loop import (
    Session,
    accuracy,
    confusion_matrix,
    make_session,
    restore_session,
    session_state,
    train_epoch,
)
from archspec.train.plan import RunPlan
from archspec.train.plots import plot_curves


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


def fit(plan: RunPlan, data: Dataset, preprocessing: Preprocessing, callback: Callback) -> None:
    """Train from the plan's checkpoint (None: from scratch) to the recipe's last epoch, writing the run folder."""
    assert data.train is not None, "a run opens its dataset with the training split"
    callbacks = callback if plan.world.is_main else Callbacks()  # only rank 0 reports
    session, start = start_session(plan, preprocessing, len(data.train))
    callbacks.on_start(_start(plan, data, start))
    train, test = on_device(data.train, plan.device), on_device(data.test, plan.device)
    best = best_accuracy(session.history)
    with cudnn_benchmark(plan.device):
        for epoch in range(start, plan.recipe.epochs):
            callbacks.on_epoch_start(epoch + 1, len(train))
            row, matrix = run_epoch(plan, session, train, test, epoch, data.num_classes, callbacks)
            if plan.world.is_main:  # rank 0 writes checkpoints, metrics and plots
                best = record_epoch(plan, session, data, preprocessing, row, best, callbacks)
                callbacks.on_evaluate(epoch + 1, matrix.tolist())
                callbacks.on_epoch_end(epoch + 1, row)
    if plan.world.is_main:
        write_metrics(plan, session)
    callbacks.on_end(session.history)


def start_session(plan: RunPlan, preprocessing: Preprocessing, train_count: int) -> tuple[Session, int]:
    """A fresh model and optimizer (every rank from the same seed), restored from the checkpoint when resuming."""
    recipe = plan.recipe
    init_from = plan.options.pretrained()
    torch.manual_seed(recipe.seed)
    model = build(plan.spec)  # the plan checked the limits
    init_weights(model, recipe.init, plan.spec)
    if init_from is not None and plan.resume is None:  # after the data and the spec agreed
        init_from.apply(model, plan.run.init_from_record if plan.world.is_main else None)
        if init_from.summary:
            plan.log(init_from.summary)
    steps_per_epoch = -(-train_count // recipe.batch_size)
    session = make_session(model, recipe, preprocessing, plan.device, steps_per_epoch, plan.world,
                           plan.spec.head.num_classes)  # fmt: skip
    return session, restore_session(session, plan.resume) if plan.resume is not None else 0


def _start(plan: RunPlan, data: Dataset, start: int) -> Start:
    dtype, precision = resolve_precision(plan.recipe.precision, plan.device)
    _, memory_format = resolve_channels_last(plan.recipe.channels_last, plan.device)
    _, weight_grad = resolve_conv_weight_grad(plan.recipe.conv_weight_grad, plan.device, dtype)
    return Start(plan.spec, plan.recipe, plan.run, start + 1, data.describe(), data.is_sample, tuple(data.skipped),
                 str(plan.device), precision, plan.world.size,
                 precision_warning(plan.recipe.precision, plan.device), tuple(data.classes),
                 memory_format, weight_grad)  # fmt: skip


def run_epoch(
    plan: RunPlan, session: Session, train: Batches, test: Batches, epoch: int, classes: int, callbacks: Callback
) -> tuple[dict[str, Any], torch.Tensor]:
    """Train one epoch, then evaluate; the metrics row and the model's test confusion matrix."""
    recipe = plan.recipe
    lr = session.optimizer.param_groups[0]["lr"]
    began = time.perf_counter()
    loss, train_acc, count = train_epoch(session, train, epoch, callbacks)
    trained = time.perf_counter() - began

    def evaluate(model: torch.nn.Module) -> torch.Tensor:
        return confusion_matrix(model, test, session.test_prep, recipe.eval_batch_size, plan.device, session.dtype,
                                plan.world, classes=classes, flip=recipe.eval_flip)  # fmt: skip

    matrix = evaluate(session.model)
    test_acc = accuracy(matrix)
    row = {
        "epoch": epoch + 1,
        "train_loss": loss,
        "train_acc": train_acc,
        "test_acc": test_acc,
        "examples_per_sec": count / trained,
        "wall_seconds": time.perf_counter() - began,
        "lr": lr,
    }
    if session.average is not None and session.average.ema.tested_after(epoch + 1, recipe.epochs):
        row[EMA_COLUMN] = accuracy(evaluate(session.average.module))
        row["wall_seconds"] = time.perf_counter() - began
    session.history.append(row)
    return row, matrix


def record_epoch(
    plan: RunPlan,
    session: Session,
    data: Dataset,
    preprocessing: Preprocessing,
    row: dict[str, Any],
    best: float,
    callbacks: Callback,
) -> float:
    """Checkpoints (last, and best when it is: of the weights or of their average, whichever scored better),
    metrics and curves; the best accuracy so far."""
    run = plan.run
    checkpoint = Checkpoint(
        model=session.model.state_dict(),
        spec=plan.spec,
        recipe_text=dump_recipe(plan.recipe),
        epoch=row["epoch"],
        metrics=tuple(session.history),
        classes=data.classes,
        preprocess=preprocessing,
        dataset=data.describe(),
        training=session_state(session),
    )
    checkpoint.save(run.last)
    callbacks.on_checkpoint(run.last, checkpoint)
    score = best_accuracy([row])
    if score > best:
        best = score
        if session.average is not None and row.get(EMA_COLUMN, -1.0) > row["test_acc"]:
            checkpoint = replace(checkpoint, model=session.average.weights(), averaged=True)
        checkpoint.save(run.best)
        callbacks.on_checkpoint(run.best, checkpoint)
    write_metrics(plan, session)
    return best


def write_metrics(plan: RunPlan, session: Session) -> None:
    """metrics.jsonl, metrics.csv and curves.png from the epochs so far."""
    plan.run.write_metrics(session.history)
    if session.history:
        plot_curves(session.history, plan.run.curves, plan.title)
