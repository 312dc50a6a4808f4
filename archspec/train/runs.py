"""Training runs: start one (`train_run`), continue one (`resume_run`), evaluate a checkpoint (`evaluate_checkpoint`).

The run folder's layout belongs to RunDir (rundir.py); the epochs to fit.py. Everything that can be
refused is refused before any data is read: a spec over the limits, a device this machine lacks, a folder
that already holds a run or is being written by another process, a resume to fewer epochs than done.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from archspec.arch.guard import Limits, check_spec
from archspec.arch.validate import load_spec
from archspec.artifacts.checkpoint import (
    checkpoint_file,
    checkpoint_labels,
    checkpoint_model,
    checkpoint_spec,
    load_checkpoint,
)
from archspec.artifacts.rundir import COLUMNS, RunDir
from archspec.config.document import read_text
from archspec.data import DataOptions, Dataset, Request, Target, open_dataset
from archspec.data.batches import on_device
from archspec.data.preprocess import Preprocessing
from archspec.errors import ArchspecError, CheckpointError
from archspec.recipe.schema import Recipe, dump_recipe, recipe_from_text, training_workload
from archspec.runtime import resolve_device, resolve_precision, to_channels_last
from archspec.spec.io import dump_spec, spec_hash
from archspec.spec.schema import ResNetSpec
from archspec.train.distributed import World
from archspec.train.finetune import Pretrained, check_freeze
from archspec.train.fit import Context, fit, preprocessing_for, silent
from archspec.train.loop import Log, accuracy, confusion_matrix, preprocessors

ALL_DATA = DataOptions()  # the recipe's data where it says, all of it


def default_run_dir(spec: ResNetSpec) -> Path:
    return Path("runs") / f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def fit_input(spec: ResNetSpec, recipe: Recipe) -> ResNetSpec:
    """An explicit `resize` must be the spec's input size; `resize: null` follows the spec."""
    size = recipe.resize
    if size is not None and (spec.input.height, spec.input.width) != (size, size):
        raise ArchspecError(
            f"spec {spec.name} takes {spec.input.height}x{spec.input.width} images but recipe {recipe.name} "
            f"feeds {size}x{size}; set resize: null in the recipe (--set resize=null) to follow the spec"
        )
    check_freeze(spec, recipe)
    return spec


def train_run(
    spec: ResNetSpec,
    recipe: Recipe,
    out: Path | None = None,
    data_options: DataOptions = ALL_DATA,
    device_name: str | None = None,
    quiet: bool = False,
    log: Log = print,
    limits: Limits | None = None,
    init_from: Pretrained | None = None,
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
) -> Path:
    """Train `spec` with `recipe` into a new run folder; returns the folder.

    `init_from` (archspec.train.finetune.prepare): weights copied in after the recipe's initialisation.
    `on_epoch(epoch, metrics_row)` runs on the main process after each epoch is written (checkpoint,
    metrics, curves); it may raise to stop the run there (a sweep's pruner does).

    Refuses (ResourceError) a spec over `limits` for the recipe's batch, an unavailable device and a
    folder that already holds a run before reading any data; the dataset is checked against the spec
    (classes, channels) before anything is decoded or trained.
    """
    fit_input(spec, recipe)
    check_spec(spec, limits, training_workload(recipe))
    device = resolve_device(device_name)
    world = World.from_environment(device)  # torchrun: join the other processes
    try:
        device = world.device(device)
        _check_world(recipe, world)
        run = RunDir(world.broadcast(out or default_run_dir(spec)))  # one folder, named by rank 0
        _refuse_existing(run)
        context = Context(spec, recipe, run, device, world, log if world.is_main else silent, quiet, limits, init_from,
                          on_epoch)  # fmt: skip
        data = _open(context, data_options)
        preprocessing = preprocessing_for(spec, recipe, data)
        with _owned(run, world):
            _refuse_existing(run)  # again, under the lock: another run may have finished meanwhile
            if world.is_main:
                run.clear_outputs()
                info = _run_info(data, data_options, preprocessing, context)
                run.write_start(
                    f"# archspec spec hash: {spec_hash(spec)}\n{dump_spec(spec)}", dump_recipe(recipe), info
                )
            fit(context, data, preprocessing, None)
        world.finish()
        return run.path
    finally:
        world.close()


def resume_run(
    run_dir: Path,
    spec: ResNetSpec | None = None,
    overrides: Sequence[str] = (),
    data_options: DataOptions | None = None,
    device_name: str | None = None,
    quiet: bool = False,
    log: Log = print,
    limits: Limits | None = None,
) -> Path:
    """Continue a run from its last complete epoch (from epoch 0 if it never completed one).

    The data options are those the run was started with, except each one given now. A run that has
    trained all its epochs says so and returns without reading data; fewer epochs than done is refused.
    """
    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise CheckpointError(f"{run}: no such run folder")
    device = resolve_device(device_name)
    world = World.from_environment(device)
    try:
        device = world.device(device)
        with _owned(run, world):
            state, spec, recipe = _resume_point(run, spec, overrides)
            done = int(state["epoch"]) if state is not None else 0
            log = log if world.is_main else silent
            if recipe.epochs <= done:
                log(f"{run}: all {done} epochs are done; nothing to do (train longer with --set epochs=N, N > {done})")
                world.finish()
                return run.path
            fit_input(spec, recipe)
            check_spec(spec, limits, training_workload(recipe))
            _check_world(recipe, world)
            context = Context(spec, recipe, run, device, world, log, quiet, limits)
            data = _open(context, _merged_options(run, data_options), stats=state is None or "preprocess" not in state)
            if state is not None and "preprocess" in state:  # the statistics the run started with, not new ones
                classes, preprocessing = checkpoint_labels(state, run.last, spec)
                _same_classes(run.last, classes, data)
            else:
                preprocessing = preprocessing_for(spec, recipe, data)
            if overrides and world.is_main:
                run.write_text(run.recipe_file, dump_recipe(recipe))
            log(f"resuming {run} after epoch {done} of {recipe.epochs}")
            fit(context, data, preprocessing, state)
        world.finish()
        return run.path
    finally:
        world.close()


def _resume_point(
    run: RunDir, spec: ResNetSpec | None, overrides: Sequence[str]
) -> tuple[dict[str, Any] | None, ResNetSpec, Recipe]:
    """(checkpoint state or None, spec, recipe with overrides) of the run to continue; reads no data."""
    if run.has_checkpoint():
        state = load_checkpoint(run.last)
        spec = checkpoint_spec(state, run.last, spec)
        source = f"{run.last} (stored recipe)"
        stored, recipe = (recipe_from_text(str(state["recipe_text"]), source, o) for o in ((), overrides))
        for part in ("optimizer", "schedule"):  # the checkpoint's optimizer and scheduler state would win silently
            if getattr(recipe, part) != getattr(stored, part):
                raise ArchspecError(f"--set {part}...: the {part} of a run is fixed when it starts; "
                                    "start a new run (with --out) to change it")  # fmt: skip
        done = int(state["epoch"])
        if recipe.epochs < done:
            raise ArchspecError(
                f"--set epochs={recipe.epochs}: {run} has already trained {done} epochs; resume to {done} or more, "
                "or start a new run with --out"
            )
        return state, spec, recipe
    if not (run.spec_file.is_file() and run.recipe_file.is_file()):
        raise CheckpointError(f"{run}: not a run folder (no {RunDir.LAST} checkpoint, spec.yaml or recipe.yaml)")
    stored_spec = load_spec(run.spec_file)  # a run that never finished an epoch: start it from epoch 0
    if spec is not None and spec_hash(spec) != spec_hash(stored_spec):
        raise CheckpointError(
            f"{run.spec_file}: the run is for spec hash {spec_hash(stored_spec)} ({stored_spec.name}), "
            f"but the spec given is {spec_hash(spec)} ({spec.name}); refusing to load mismatched weights"
        )
    recipe = recipe_from_text(read_text(run.recipe_file), str(run.recipe_file), overrides)
    return None, stored_spec, recipe


def _refuse_existing(run: RunDir) -> None:
    if run.has_checkpoint():
        raise ArchspecError(f"{run}: already holds a run; continue it with --resume {run} or pick another --out")


@contextmanager
def _owned(run: RunDir, world: World) -> Iterator[None]:
    """The run folder's lock, held by rank 0 (the one process that writes into it)."""
    with run.lock() if world.is_main else nullcontext():
        yield


def _open(context: Context, options: DataOptions, stats: bool = True) -> Dataset:
    request = Request(options, Target.of(context.spec), True, context.log, context.quiet or not context.world.is_main)
    return open_dataset(context.recipe.source, request, stats=stats and context.recipe.normalize)


def _merged_options(run: RunDir, given: DataOptions | None) -> DataOptions:
    """Each data option given now wins; the others are the run's own (from run.json)."""
    try:
        stored = run.read_info().get("data_options", {})
        own = DataOptions(stored.get("data_dir"), stored.get("max_train"), stored.get("max_test"))
    except (AttributeError, ArchspecError) as err:
        raise ArchspecError(
            f"{run.info_file}: unreadable run record ({err}); pass --data-dir/--max-train/--max-test"
        ) from None
    counts_ok = all(n is None or (type(n) is int and n > 0) for n in (own.max_train, own.max_test))
    if not (counts_ok and (own.data_dir is None or isinstance(own.data_dir, str))):
        raise CheckpointError(f"{run.info_file}: malformed run record: data_options must hold a folder name and "
                              "positive counts; pass --data-dir/--max-train/--max-test")  # fmt: skip
    given = given or DataOptions()
    return DataOptions(
        given.data_dir if given.data_dir is not None else own.data_dir,
        given.max_train if given.max_train is not None else own.max_train,
        given.max_test if given.max_test is not None else own.max_test,
    )


def _check_world(recipe: Recipe, world: World) -> None:
    if recipe.batch_size % world.size:
        raise ArchspecError(
            f"batch_size {recipe.batch_size} does not split evenly over {world.size} processes; "
            f"use a multiple of {world.size} (--set batch_size=...)"
        )


def _run_info(data: Dataset, options: DataOptions, preprocessing: Preprocessing, context: Context) -> dict[str, Any]:
    return {
        "processes": context.world.size,
        "data": data.describe(),
        "is_sample": data.is_sample,
        "data_options": {"data_dir": options.data_dir, "max_train": options.max_train, "max_test": options.max_test},
        "classes": list(data.classes),
        "preprocess": preprocessing.to_dict(),
        "device": str(context.device),
        "precision": resolve_precision(context.recipe.precision, context.device)[1],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }


# --- evaluation ---------------------------------------------------------------------------------


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


def evaluate_checkpoint(path: Path, data_options: DataOptions = ALL_DATA, device_name: str | None = None) -> Evaluation:
    """Test-set confusion matrix of a checkpoint (a .pt file, or a run folder: its best.pt).

    Reads only the test split, prepared with the statistics stored in the checkpoint.
    """
    path = checkpoint_file(path)
    device = resolve_device(device_name)
    state = load_checkpoint(path)
    model, spec = checkpoint_model(path, state)
    classes, preprocessing = checkpoint_labels(state, path, spec)
    recipe = recipe_from_text(str(state["recipe_text"]), f"{path} (stored recipe)")
    options = DataOptions(data_options.data_dir, None, data_options.max_test)
    data = open_dataset(recipe.source, Request(options, Target.of(spec), train=False))
    _same_classes(path, classes, data)
    model.to(device)
    if recipe.channels_last:
        to_channels_last(model)
    dtype, _ = resolve_precision(recipe.precision, device)
    _, prep = preprocessors(recipe, preprocessing)
    test = on_device(data.test, device)
    matrix = confusion_matrix(model, test, prep, recipe.eval_batch_size, device, dtype, classes=len(classes))
    return Evaluation(spec, matrix, classes, data)


def _same_classes(path: Path, classes: tuple[str, ...], data: Dataset) -> None:
    """A checkpoint meets data with the class names it was trained on, in the same order, or nothing."""
    if classes != data.classes:
        raise CheckpointError(
            f"{path}: trained on classes {_names(classes)}, but {data.source} has {_names(data.classes)}"
        )


def _names(classes: Sequence[str]) -> str:
    shown = ", ".join(classes[:5]) + (f", ... ({len(classes)} in all)" if len(classes) > 5 else "")
    return f"[{shown}]"


__all__ = ["COLUMNS", "DataOptions", "Evaluation", "default_run_dir", "evaluate_checkpoint", "resume_run", "train_run"]
