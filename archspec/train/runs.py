"""A training run on disk: its folder, metrics files, curves, checkpoints, and resuming from them.

    RUN/spec.yaml            the resolved spec (with its hash)
    RUN/recipe.yaml          the resolved recipe (overrides applied)
    RUN/run.json             data source, device, precision, versions
    RUN/metrics.jsonl|.csv   one row per epoch
    RUN/curves.png           train loss, train acc, test acc against epochs
    RUN/checkpoints/last.pt  after every epoch; best.pt when the test accuracy is the best so far

Every file is written whole to a temporary file and renamed, so a killed run leaves no half-written file.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from archspec.arch.complexity import complexity
from archspec.arch.guard import Limits, check
from archspec.config.files import write_atomic
from archspec.errors import ArchspecError
from archspec.nn.build import build
from archspec.runtime import cudnn_benchmark, resolve_device, resolve_precision, to_channels_last
from archspec.spec.io import dump_spec, spec_hash
from archspec.spec.schema import ResNetSpec
from archspec.train.checkpoint import (
    checkpoint_file,
    checkpoint_model,
    checkpoint_spec,
    load_checkpoint,
    save_checkpoint,
)
from archspec.train.data import Dataset, load_dataset
from archspec.train.distributed import World
from archspec.train.loop import (
    Log,
    accuracy,
    confusion_matrix,
    init_weights,
    make_session,
    preprocessors,
    restore_session,
    session_state,
    train_epoch,
)
from archspec.train.plots import plot_curves
from archspec.train.recipe import Recipe, dump_recipe, recipe_from_text

COLUMNS = ("epoch", "train_loss", "train_acc", "test_acc", "examples_per_sec", "wall_seconds", "lr")


@dataclass(frozen=True)
class DataOptions:
    data_dir: str | None = None
    max_train: int | None = None
    max_test: int | None = None


def default_run_dir(spec: ResNetSpec) -> Path:
    return Path("runs") / f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def fit_input(spec: ResNetSpec, recipe: Recipe) -> ResNetSpec:
    """The spec must take the recipe's images: 1 channel, the recipe's size (28 when it does not resize)."""
    size = recipe.resize or 28
    if spec.input.channels != 1:
        raise ArchspecError(f"spec {spec.name} takes {spec.input.channels} input channels; {recipe.dataset} has 1")
    if (spec.input.height, spec.input.width) != (size, size):
        fix = "null" if spec.input.height == 28 else spec.input.height
        raise ArchspecError(
            f"spec {spec.name} takes {spec.input.height}x{spec.input.width} images but recipe {recipe.name} "
            f"feeds {size}x{size}; set resize: {fix} in the recipe (--set resize={fix})"
        )
    return spec


def train_run(
    spec: ResNetSpec,
    recipe: Recipe,
    out: Path | None = None,
    data_options: DataOptions = DataOptions(),
    device_name: str | None = None,
    quiet: bool = False,
    log: Log = print,
    limits: Limits | None = None,
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
) -> Path:
    """Train `spec` with `recipe` into a new run folder; returns the folder.

    Refuses (ResourceError) a spec over `limits` for the recipe's batch before loading any data.
    `on_epoch(epoch, metrics_row)` runs on the main process after each epoch is written (checkpoint,
    metrics, curves); it may raise to stop the run there (a sweep's pruner does).
    """
    fit_input(spec, recipe)
    check(complexity(spec, batch_size=recipe.batch_size), limits)
    device = resolve_device(device_name)
    world = World.from_environment(device)  # torchrun: join the other processes
    try:
        device = world.device(device)
        _check_world(recipe, world)
        run_dir = world.broadcast(out or default_run_dir(spec))  # one folder, named by rank 0
        if (run_dir / "checkpoints").exists():
            raise ArchspecError(
                f"{run_dir}: already holds a run; continue it with --resume {run_dir} or pick another --out"
            )
        data = load_dataset(recipe.dataset, data_options.data_dir, data_options.max_train, data_options.max_test)
        if world.is_main:
            info = _run_info(data, data_options, device, recipe, world)
            _write_text(run_dir / "spec.yaml", f"# archspec spec hash: {spec_hash(spec)}\n{dump_spec(spec)}")
            _write_text(run_dir / "recipe.yaml", dump_recipe(recipe))
            _write_text(run_dir / "run.json", json.dumps(info, indent=2) + "\n")
        log = log if world.is_main else _silent
        return _fit(spec, recipe, data, run_dir, device, None, quiet, log, limits, world, on_epoch)
    finally:
        world.close()


def resume_run(
    run_dir: Path,
    spec: ResNetSpec | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    data_options: DataOptions | None = None,
    device_name: str | None = None,
    quiet: bool = False,
    log: Log = print,
    limits: Limits | None = None,
) -> Path:
    """Continue a run from its last complete epoch; the data options are those the run was started with."""
    path = run_dir / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    spec = checkpoint_spec(state, path, spec)
    stored_recipe = recipe_from_text(str(state["recipe_text"]), f"{path} (stored recipe)")
    recipe = recipe_from_text(str(state["recipe_text"]), f"{path} (stored recipe)", overrides)
    for part in ("optimizer", "schedule"):  # the checkpoint's optimizer and scheduler state would win silently
        if getattr(recipe, part) != getattr(stored_recipe, part):
            raise ArchspecError(f"--set {part}...: the {part} of a run is fixed when it starts; "
                                "start a new run (with --out) to change it")  # fmt: skip
    fit_input(spec, recipe)
    check(complexity(spec, batch_size=recipe.batch_size), limits)
    stored = _stored_data_options(run_dir)
    given = data_options or DataOptions()
    options = DataOptions(  # each option given now wins; the others are the run's own
        given.data_dir if given.data_dir is not None else stored.data_dir,
        given.max_train if given.max_train is not None else stored.max_train,
        given.max_test if given.max_test is not None else stored.max_test,
    )
    device = resolve_device(device_name)
    world = World.from_environment(device)
    try:
        device = world.device(device)
        _check_world(recipe, world)
        data = load_dataset(recipe.dataset, options.data_dir, options.max_train, options.max_test)
        if overrides and world.is_main:
            _write_text(run_dir / "recipe.yaml", dump_recipe(recipe))
        log = log if world.is_main else _silent
        log(f"resuming {run_dir} after epoch {state['epoch']} of {recipe.epochs}")
        return _fit(spec, recipe, data, run_dir, device, state, quiet, log, limits, world)
    finally:
        world.close()


def _fit(
    spec: ResNetSpec,
    recipe: Recipe,
    data: Dataset,
    run_dir: Path,
    device: torch.device,
    state: dict[str, Any] | None,
    quiet: bool,
    log: Log,
    limits: Limits | None = None,
    world: World | None = None,
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
) -> Path:
    world = world or World()
    torch.manual_seed(recipe.seed)  # every rank starts from the same weights
    model = build(spec, limits=limits, batch_size=recipe.batch_size)
    init_weights(model, recipe.init)
    steps_per_epoch = -(-len(data.train) // recipe.batch_size)
    session = make_session(model, recipe, data, device, steps_per_epoch, world)
    start = restore_session(session, state) if state is not None else 0
    _, precision = resolve_precision(recipe.precision, device)
    log(f"data: {data.describe()}")
    if data.is_sample:
        log("NOTICE: training on the bundled sample; accuracies are NOT full Fashion-MNIST results")
    processes = f", {world.size} processes (batch {recipe.batch_size // world.size} each)" if world.size > 1 else ""
    log(f"device: {device}, {precision}, channels_last={recipe.channels_last}, compile={recipe.compile}{processes}")
    train_split, test_split = data.train.to(device), data.test.to(device)
    spec_text = dump_spec(spec)
    best = max((row["test_acc"] for row in session.history), default=-1.0)
    examples, train_seconds = 0, 0.0
    with cudnn_benchmark(device):
        for epoch in range(start, recipe.epochs):
            lr = session.optimizer.param_groups[0]["lr"]
            began = time.perf_counter()
            label = f"epoch {epoch + 1}/{recipe.epochs}"
            loss, train_acc, count = train_epoch(session, train_split, epoch, quiet, label)
            trained = time.perf_counter() - began
            matrix = confusion_matrix(
                model, test_split, session.test_prep, recipe.eval_batch_size, device, session.dtype, world
            )
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
            examples, train_seconds = examples + count, train_seconds + trained
            if not world.is_main:
                continue  # rank 0 writes checkpoints, metrics and plots
            checkpoint = {
                **session_state(session, epoch + 1),
                "spec_text": spec_text,
                "spec_hash": spec_hash(spec),
                "recipe_text": dump_recipe(recipe),
                "dataset": data.describe(),
            }
            save_checkpoint(run_dir / "checkpoints" / "last.pt", checkpoint)
            if row["test_acc"] > best:
                best = row["test_acc"]
                save_checkpoint(run_dir / "checkpoints" / "best.pt", checkpoint)
            write_metrics(run_dir, session.history, f"{spec.name} / {recipe.name}")
            log(
                f"{label}: loss {loss:.3f}, train acc {train_acc:.3f}, test acc {row['test_acc']:.3f}, "
                f"{row['examples_per_sec']:.1f} examples/sec, {row['wall_seconds']:.1f} s"
            )
            if on_epoch is not None:
                on_epoch(epoch + 1, row)
    if world.is_main:
        write_metrics(run_dir, session.history, f"{spec.name} / {recipe.name}")
    if session.history:
        last = session.history[-1]
        log(f"loss {last['train_loss']:.3f}, train acc {last['train_acc']:.3f}, test acc {last['test_acc']:.3f}")
    if examples:
        log(f"{examples / train_seconds:.1f} examples/sec on {device}")
    log(f"run: {run_dir} (curves: {run_dir / 'curves.png'})")
    return run_dir


def write_metrics(run_dir: Path, rows: list[dict[str, Any]], title: str) -> None:
    lines = "".join(json.dumps({key: row[key] for key in COLUMNS}) + "\n" for row in rows)
    _write_text(run_dir / "metrics.jsonl", lines)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write_text(run_dir / "metrics.csv", buffer.getvalue())
    if rows:
        plot_curves(rows, run_dir / "curves.png", title)


def _write_text(path: Path, text: str) -> None:
    write_atomic(path, text.encode(), ArchspecError)


def _stored_data_options(run_dir: Path) -> DataOptions:
    path = run_dir / "run.json"
    if not path.is_file():
        return DataOptions()
    try:
        stored = json.loads(path.read_text()).get("data_options", {})
        return DataOptions(stored.get("data_dir"), stored.get("max_train"), stored.get("max_test"))
    except (OSError, ValueError, AttributeError) as err:
        raise ArchspecError(f"{path}: unreadable run record ({err}); pass --data-dir/--max-train/--max-test") from None


def _silent(message: str) -> None:
    """The log of ranks other than 0."""


def _check_world(recipe: Recipe, world: World) -> None:
    if recipe.batch_size % world.size:
        raise ArchspecError(
            f"batch_size {recipe.batch_size} does not split evenly over {world.size} processes; "
            f"use a multiple of {world.size} (--set batch_size=...)"
        )


def _run_info(
    data: Dataset, options: DataOptions, device: torch.device, recipe: Recipe, world: World
) -> dict[str, Any]:
    return {
        "processes": world.size,
        "data": data.describe(),
        "is_sample": data.is_sample,
        "data_options": {"data_dir": options.data_dir, "max_train": options.max_train, "max_test": options.max_test},
        "device": str(device),
        "precision": resolve_precision(recipe.precision, device)[1],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }


@dataclass(frozen=True)
class Evaluation:
    spec: ResNetSpec
    matrix: torch.Tensor
    classes: tuple[str, ...]
    data: Dataset

    @property
    def accuracy(self) -> float:
        return accuracy(self.matrix)

    def per_class(self) -> list[tuple[str, float, int]]:
        totals = self.matrix.sum(1)
        return [
            (name, float(self.matrix[i, i]) / max(int(totals[i]), 1), int(totals[i]))
            for i, name in enumerate(self.classes)
        ]


def evaluate_checkpoint(
    path: Path, data_options: DataOptions = DataOptions(), device_name: str | None = None
) -> Evaluation:
    """Test-set confusion matrix of a checkpoint (a .pt file, or a run folder: its best.pt)."""
    path = checkpoint_file(path)
    state = load_checkpoint(path)
    model, spec = checkpoint_model(path, state)
    recipe = recipe_from_text(str(state["recipe_text"]), f"{path} (stored recipe)")
    device = resolve_device(device_name)
    data = load_dataset(recipe.dataset, data_options.data_dir, None, data_options.max_test)
    model.to(device)
    if recipe.channels_last:
        to_channels_last(model)
    dtype, _ = resolve_precision(recipe.precision, device)
    _, prep = preprocessors(recipe, data)
    matrix = confusion_matrix(model, data.test.to(device), prep, recipe.eval_batch_size, device, dtype)
    return Evaluation(spec, matrix, data.info.classes, data)


__all__ = ["DataOptions", "Evaluation", "evaluate_checkpoint", "resume_run", "train_run"]
