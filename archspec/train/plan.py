"""The run plan: every refusal of a training run made once, before any image is decoded.

`plan_run(spec, recipe, options)` plans a new run and `plan_from_rundir(run, ...)` the continuation of
one; both check, in this order, the recipe against the spec (input size, frozen parts), the resource
limits for the recipe's workload, the device, the process group and the batch split over it, the run
folder (already a run? another process writing into it? the lock is taken here and held until the run
ends), and on resume the checkpoint, its spec and what the overrides may change. `archspec.train.runs.
execute(plan, callbacks)` then opens the data and trains; nothing it does can be refused for a reason
known before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from archspec.arch.guard import Limits, check_spec
from archspec.arch.validate import load_spec
from archspec.artifacts.checkpoint import Checkpoint, checkpoint_spec, load_checkpoint
from archspec.artifacts.rundir import RunDir
from archspec.config.document import read_text
from archspec.data import DataOptions
from archspec.data.policies import check_policy
from archspec.errors import ArchspecError, CheckpointError
from archspec.recipe.schema import Recipe, recipe_from_text, recipe_hash, training_workload
from archspec.runtime import resolve_device
from archspec.spec.io import spec_hash
from archspec.spec.schema import ResNetSpec
from archspec.train.callbacks import Log
from archspec.train.distributed import Elastic, World
from archspec.train.finetune import Pretrained, check_freeze

# A restarted attempt's rank 0 waits this long for the lock of the attempt it replaces (torchrun stops every
# worker of a failed attempt before it restarts, and the kernel drops a dead process's lock; this is margin).
RESTART_LOCK_WAIT = 60.0


def silent(message: str) -> None:
    """The log of ranks other than 0."""


@dataclass(frozen=True)
class RunOptions:
    """How to run, beside what (the spec) and how to train (the recipe)."""

    out: Path | None = None  # the run folder (default runs/<spec>-<timestamp>)
    data: DataOptions = field(default_factory=DataOptions)  # on resume: None fields are the run's own
    device: str | None = None
    quiet: bool = False  # no progress bars
    log: Log = print
    limits: Limits | None = None  # None: ARCHSPEC_MAX_* or the defaults
    # weights copied in after the recipe's initialisation (--init-from), or what reads and matches them: called
    # by plan_run after the spec passed the limits and before a run folder exists
    init_from: Pretrained | Callable[[], Pretrained] | None = None

    def pretrained(self) -> Pretrained | None:
        return self.init_from() if callable(self.init_from) else self.init_from


@dataclass
class RunPlan:
    """A run that may go ahead: what it trains, where, on what, and from which checkpoint."""

    spec: ResNetSpec
    recipe: Recipe
    run: RunDir
    device: torch.device
    world: World
    options: RunOptions
    resume: Checkpoint | None = None  # the checkpoint to continue from
    new: bool = True  # a new run folder: its start files are written when the data is known
    rewrite_recipe: bool = False  # resumed with overrides: recipe.yaml is rewritten
    finished: bool = False  # resumed, but every epoch is done: nothing to train
    resources: ExitStack = field(default_factory=ExitStack)  # the folder's lock and the process group

    @property
    def log(self) -> Log:
        return self.options.log if self.world.is_main else silent

    @property
    def quiet(self) -> bool:
        return self.options.quiet or not self.world.is_main

    @property
    def done(self) -> int:
        """Epochs already trained."""
        return self.resume.epoch if self.resume is not None else 0

    @property
    def title(self) -> str:
        names = dict.fromkeys((self.spec.name, self.recipe.name))  # a sweep's trial names both alike
        return " / ".join(names)

    def close(self) -> None:
        """Release the run folder's lock and leave the process group (execute does, however it ends)."""
        self.resources.close()


def check_recipe(spec: ResNetSpec, recipe: Recipe, limits: Limits | None) -> None:
    """Whether `recipe` can train `spec`: input size, frozen parts, resources for its workload."""
    check_input(spec, recipe)
    check_spec(spec, limits, training_workload(recipe))


def check_input(spec: ResNetSpec, recipe: Recipe) -> None:
    """Whether `recipe` feeds `spec` images of its size (and grows smaller ones to it), freezes only parts it
    has and augments them with a policy that fits their channels (no resource policy)."""
    size = recipe.resize
    if size is not None and (spec.input.height, spec.input.width) != (size, size):
        raise ArchspecError(
            f"spec {spec.name} takes {spec.input.height}x{spec.input.width} images but recipe {recipe.name} "
            f"feeds {size}x{size}; set resize: null in the recipe (--set resize=null) to follow the spec"
        )
    check_freeze(spec, recipe)
    progressive = recipe.progressive_resize
    if progressive is not None and progressive.size >= min(spec.input.height, spec.input.width):
        raise ArchspecError(
            f"recipe {recipe.name}: progressive_resize.size {progressive.size} is not below spec {spec.name}'s "
            f"input {spec.input.height}x{spec.input.width}; choose a smaller size or progressive_resize: null"
        )
    if recipe.augment.policy is not None:  # the data's channels are the spec's (checked when it is opened)
        check_policy(recipe.augment.policy, spec.input.channels)


def check_world(recipe: Recipe, world: World) -> None:
    """Whether the recipe's batch splits evenly over the processes."""
    if recipe.batch_size % world.size:
        raise ArchspecError(
            f"batch_size {recipe.batch_size} does not split evenly over {world.size} processes; "
            f"use a multiple of {world.size} (--set batch_size=...)"
        )


def default_run_dir(spec: ResNetSpec, elastic: Elastic | None = None) -> Path:
    """runs/<spec>-<timestamp>; under `torchrun --max-restarts N`, runs/<spec>-<rendezvous id>, the one name
    every attempt of the job arrives at (refused when torchrun's id is its default, "none")."""
    if elastic is None or not elastic.may_restart:
        return Path("runs") / f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if elastic.run_id is None:
        raise ArchspecError(
            "torchrun --max-restarts: a restarted attempt must find the run folder of the first one; give "
            "--out RUN_DIR (a folder every node sees) or torchrun --rdzv-id NAME (the folder is then runs/"
            f"{spec.name}-NAME)"
        )
    return Path("runs") / f"{spec.name}-{elastic.run_id}"


def plan_run(spec: ResNetSpec, recipe: Recipe, options: RunOptions | None = None) -> RunPlan:
    """A new run of `spec` with `recipe`, refused (ArchspecError) for any reason known before the data.

    Under torchrun every rank must have been given the same spec and recipe (refused otherwise, naming the
    hashes). An attempt that torchrun restarted (`--max-restarts`) continues the run folder that the earlier
    attempt wrote from its last checkpoint, as `plan_from_rundir` would; with no checkpoint yet, it starts
    the run afresh in that folder.
    """
    options = options or RunOptions()
    check_recipe(spec, recipe, options.limits)
    options = replace(options, init_from=options.pretrained())
    elastic = Elastic.from_environment()
    out = options.out or default_run_dir(spec, elastic)
    with ExitStack() as resources:
        world, device = _join(resources, options)
        world.agree("spec (hash)", spec_hash(spec))
        world.agree("recipe (hash)", recipe_hash(recipe))
        check_world(recipe, world)
        run = RunDir(world.broadcast(out))  # one folder, named by rank 0
        wait = RESTART_LOCK_WAIT if elastic.restarted else 0.0
        if elastic.restarted and world.broadcast(run.has_checkpoint()):
            plan = _continuation(resources, world, device, run, spec, (), options, wait)
            if recipe_hash(plan.recipe) != recipe_hash(recipe):
                raise ArchspecError(f"{run}: restarted by torchrun, but its checkpoint's recipe is not the recipe "
                                    "given; pick another --out for a new run")  # fmt: skip
            return plan
        if world.is_main:  # the lock first: a folder another process trains into is named as such
            resources.enter_context(run.lock(wait))
        _refuse_existing(run)
        plan = RunPlan(spec, recipe, run, device, world, options, resources=resources.pop_all())
    return plan


def plan_from_rundir(
    run_dir: Path | str,
    spec: ResNetSpec | None = None,
    overrides: Sequence[str] = (),
    options: RunOptions | None = None,
) -> RunPlan:
    """The continuation of a run from its last complete epoch (from epoch 0 if it never completed one).

    `spec`, if given, must be the run's own; `overrides` change the stored recipe (not its optimizer or
    schedule, and not to fewer epochs than done). A run that has trained all its epochs plans nothing to do.
    """
    options = options or RunOptions()
    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise CheckpointError(f"{run}: no such run folder")
    with ExitStack() as resources:
        world, device = _join(resources, options)
        return _continuation(resources, world, device, run, spec, overrides, options)


def _continuation(
    resources: ExitStack,
    world: World,
    device: torch.device,
    run: RunDir,
    spec: ResNetSpec | None,
    overrides: Sequence[str],
    options: RunOptions,
    wait: float = 0.0,
) -> RunPlan:
    """The plan that continues `run` in a joined process group; takes over `resources` when it succeeds."""
    if world.is_main:
        resources.enter_context(run.lock(wait))
    checkpoint, spec, recipe = _resume_point(run, spec, overrides)
    plan = RunPlan(spec, recipe, run, device, world, options, resume=checkpoint, new=False,
                   rewrite_recipe=bool(overrides))  # fmt: skip
    if recipe.epochs <= plan.done:
        plan.finished = True
    else:
        check_recipe(spec, recipe, options.limits)
        check_world(recipe, world)  # the process count may differ from the run's: the global batch is the same
    plan.resources = resources.pop_all()
    return plan


def _join(resources: ExitStack, options: RunOptions) -> tuple[World, torch.device]:
    """The device and, under torchrun, the process group (left when `resources` close)."""
    device = resolve_device(options.device)
    world = World.from_environment(device)
    resources.callback(world.close)
    return world, world.device(device)


def _resume_point(
    run: RunDir, spec: ResNetSpec | None, overrides: Sequence[str]
) -> tuple[Checkpoint | None, ResNetSpec, Recipe]:
    """(checkpoint or None, spec, recipe with overrides) of the run to continue; reads no data."""
    if run.has_checkpoint():
        checkpoint = load_checkpoint(run.last)
        spec = checkpoint_spec(checkpoint, run.last, spec)
        if checkpoint.training is None:
            raise CheckpointError(f"{run.last}: holds imported weights, not a run to continue")
        stored, recipe = checkpoint.recipe(), checkpoint.recipe(overrides)
        for part in ("optimizer", "schedule", "ema"):  # the checkpoint's states would win silently
            if getattr(recipe, part) != getattr(stored, part):
                raise ArchspecError(f"--set {part}...: the {part} of a run is fixed when it starts; "
                                    "start a new run (with --out) to change it")  # fmt: skip
        if recipe.epochs < checkpoint.epoch:
            raise ArchspecError(
                f"--set epochs={recipe.epochs}: {run} has already trained {checkpoint.epoch} epochs; resume to "
                f"{checkpoint.epoch} or more, or start a new run with --out"
            )
        return checkpoint, spec, recipe
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


__all__ = [
    "RunOptions",
    "RunPlan",
    "check_input",
    "check_recipe",
    "check_world",
    "default_run_dir",
    "plan_from_rundir",
    "plan_run",
]
