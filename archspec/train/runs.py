"""Training runs: start one (`train_run`), continue one (`resume_run`), evaluate a checkpoint (`evaluate_checkpoint`).

Each run is planned first (archspec.train.plan: every refusal made before any data is read), then
executed here (`execute`): the data opened and checked against the spec, the run folder's start files
written, the epochs fitted (fit.py) with the callbacks reporting. The run folder's layout belongs to
RunDir (archspec.artifacts.rundir).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from archspec.arch.guard import Limits
from archspec.artifacts.checkpoint import checkpoint_file, checkpoint_model, load_checkpoint
from archspec.artifacts.rundir import COLUMNS, RunDir, RunRecord
from archspec.data import DataOptions, Dataset, Request, Target, open_dataset
from archspec.data.base import fingerprint
from archspec.data.batches import on_device
from archspec.data.preprocess import Preprocessing
from archspec.errors import CheckpointError
from archspec.recipe.schema import Recipe, dump_recipe
from archspec.runtime import resolve_channels_last, resolve_device, resolve_precision, to_channels_last
from archspec.spec.schema import ResNetSpec
from archspec.train.callbacks import Callback, Callbacks, ConsoleLog, Log, ProgressBar
from archspec.train.finetune import Pretrained
from archspec.train.fit import fit, preprocessing_for
from archspec.train.interrupt import ctrl_c_stops
from archspec.train.loop import accuracy, confusion_matrix, preprocessors
from archspec.train.plan import RunOptions, RunPlan, default_run_dir, plan_from_rundir, plan_run

ALL_DATA = DataOptions()  # the recipe's data where it says, all of it


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
    callbacks: Sequence[Callback] = (),
) -> Path:
    """Train `spec` with `recipe` into a new run folder; returns the folder: `execute(plan_run(...))`.

    `init_from` (archspec.train.finetune.prepare): weights copied in after the recipe's initialisation.
    `callbacks` (archspec.train.callbacks) go after the console's own; one may raise to stop the run there.
    """
    options = RunOptions(out, data_options, device_name, quiet, log, limits, init_from)
    return execute(plan_run(spec, recipe, options), callbacks)


def resume_run(
    run_dir: Path,
    spec: ResNetSpec | None = None,
    overrides: Sequence[str] = (),
    data_options: DataOptions | None = None,
    device_name: str | None = None,
    quiet: bool = False,
    log: Log = print,
    limits: Limits | None = None,
    callbacks: Sequence[Callback] = (),
) -> Path:
    """Continue a run from its last complete epoch (from epoch 0 if it never completed one).

    The data options are those the run was started with, except each one given now. A run that has
    trained all its epochs says so and returns without reading data; fewer epochs than done is refused.
    """
    options = RunOptions(None, data_options or DataOptions(), device_name, quiet, log, limits)
    return execute(plan_from_rundir(run_dir, spec, overrides, options), callbacks)


def execute(plan: RunPlan, callbacks: Sequence[Callback] = ()) -> Path:
    """Open the data, check it against the spec, train and record the planned run; returns its folder.

    The console's lines (`ConsoleLog`) and, unless quiet, progress bars come first, then `callbacks`.
    The plan's lock and process group are released however this ends.
    """
    try:
        run, log = plan.run, plan.log
        if plan.finished:
            log(f"{run}: all {plan.done} epochs are done; nothing to do (train longer with --set epochs=N, "
                f"N > {plan.done})")  # fmt: skip
        else:
            data, preprocessing = _open(plan)
            if plan.world.is_main:
                if plan.new:
                    run.clear_outputs()
                    run.write_start(plan.spec, dump_recipe(plan.recipe), _record(data, preprocessing, plan))
                elif plan.rewrite_recipe:
                    run.write_text(run.recipe_file, dump_recipe(plan.recipe))
            if not plan.new:
                log(f"resuming {run} after epoch {plan.done} of {plan.recipe.epochs}")
            console: list[Callback] = [ConsoleLog(log)] + ([] if plan.quiet else [ProgressBar()])
            with ctrl_c_stops() as ctrl_c:
                fit(plan, data, preprocessing, Callbacks([*console, ctrl_c, *callbacks]))
        plan.world.finish()
        return run.path
    finally:
        plan.close()


def _open(plan: RunPlan) -> tuple[Dataset, Preprocessing]:
    """The run's dataset, checked against the spec (and, resumed, the checkpoint's classes), and its input
    preprocessing: the statistics the run started with, or the training split's own for a new run."""
    checkpoint = plan.resume
    stored = checkpoint is not None and checkpoint.preprocess is not None
    options = plan.options.data if plan.new else _merged_options(plan.run, plan.options.data)
    request = Request(options, Target.of(plan.spec), True, plan.log, plan.quiet)
    data = open_dataset(plan.recipe.source, request, stats=not stored and plan.recipe.normalize)
    plan.world.agree(f"data ({data.source}, hash)", fingerprint(data))  # the same files on every machine
    if checkpoint is not None and stored:
        classes, preprocessing = checkpoint.labels()
        _same_classes(plan.run.last, classes, data)
        return data, preprocessing
    return data, preprocessing_for(plan.spec, plan.recipe, data)


def _merged_options(run: RunDir, given: DataOptions | None) -> DataOptions:
    """Each data option given now wins; the others are the run's own (from run.json)."""
    own = run.data_options()
    given = given or DataOptions()
    return DataOptions(
        given.data_dir if given.data_dir is not None else own.data_dir,
        given.max_train if given.max_train is not None else own.max_train,
        given.max_test if given.max_test is not None else own.max_test,
    )


def _record(data: Dataset, preprocessing: Preprocessing, plan: RunPlan) -> RunRecord:
    precision = resolve_precision(plan.recipe.precision, plan.device)[1]
    return RunRecord(data.describe(), data.is_sample, plan.options.data, data.classes, preprocessing,
                     str(plan.device), precision, plan.world.size, torch.__version__,
                     torch.get_num_threads())  # fmt: skip


# --- evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    spec: ResNetSpec
    matrix: torch.Tensor
    classes: tuple[str, ...]
    data: Dataset
    flip: bool = False  # each image was also classified mirrored (eval_flip)

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
    path: Path, data_options: DataOptions = ALL_DATA, device_name: str | None = None, flip: bool | None = None
) -> Evaluation:
    """Test-set confusion matrix of a checkpoint (a .pt file, or a run folder: its best.pt).

    Reads only the test split, prepared with the statistics stored in the checkpoint. A checkpoint in a run
    folder is evaluated on the data the run was trained on (run.json's data options), except each option given.
    `flip`: average each image with its mirror, or not; None follows the recipe's eval_flip.
    """
    path = checkpoint_file(path)
    device = resolve_device(device_name)
    checkpoint = load_checkpoint(path)
    model, spec = checkpoint_model(path, checkpoint)
    classes, preprocessing = checkpoint.labels()
    recipe = checkpoint.recipe()
    run = RunDir.of_checkpoint(path)
    given = DataOptions(data_options.data_dir, None, data_options.max_test)
    merged = _merged_options(run, given) if run is not None else given
    options = DataOptions(merged.data_dir, None, merged.max_test)
    data = open_dataset(recipe.source, Request(options, Target.of(spec), train=False))
    _same_classes(path, classes, data)
    model.to(device)
    if resolve_channels_last(recipe.channels_last, device)[0]:
        to_channels_last(model)
    dtype, _ = resolve_precision(recipe.precision, device)
    _, prep = preprocessors(recipe, preprocessing, device)
    test = on_device(data.test, device)
    flip = recipe.eval_flip if flip is None else flip
    matrix = confusion_matrix(model, test, prep, recipe.eval_batch_size, device, dtype, classes=len(classes),
                              flip=flip)  # fmt: skip
    return Evaluation(spec, matrix, classes, data, flip)


def _same_classes(path: Path, classes: tuple[str, ...], data: Dataset) -> None:
    """A checkpoint meets data with the class names it was trained on, in the same order, or nothing."""
    if classes != data.classes:
        raise CheckpointError(
            f"{path}: trained on classes {_names(classes)}, but {data.source} has {_names(data.classes)}"
        )


def _names(classes: Sequence[str]) -> str:
    shown = ", ".join(classes[:5]) + (f", ... ({len(classes)} in all)" if len(classes) > 5 else "")
    return f"[{shown}]"


__all__ = [
    "COLUMNS",
    "DataOptions",
    "Evaluation",
    "RunOptions",
    "default_run_dir",
    "evaluate_checkpoint",
    "execute",
    "plan_from_rundir",
    "plan_run",
    "resume_run",
    "train_run",
]
