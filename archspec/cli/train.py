"""Commands that train and evaluate: train, evaluate."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from archspec.cli.common import (
    Commands,
    add_input_size_argument,
    add_limit_arguments,
    add_log_arguments,
    limits_from_args,
    log_choice,
    positive_int,
    sized,
)
from archspec.cli.threads import add_threads_argument, use_threads
from archspec.errors import ArchspecError
from archspec.nn.layouts import layout_names
from archspec.spec.schema import ResNetSpec

if TYPE_CHECKING:
    from archspec.train.callbacks import Callback
    from archspec.train.finetune import Pretrained


def cmd_train(args: argparse.Namespace) -> int:
    from archspec.arch.validate import load_spec
    from archspec.recipe.schema import dump_recipe, load_recipe, split_overrides
    from archspec.spec.io import dump_spec, spec_hash

    spec_sets, recipe_sets = split_overrides(args.sets)
    limits = limits_from_args(args)
    loggers = _loggers(args)  # a bad name, a missing extra, a tracking server that does not answer: one line first
    if args.layout is not None and args.init_from is None:
        raise ArchspecError("--layout names the layout of --init-from FILE; give --init-from too")
    if args.resume is not None:
        if args.init_from is not None:
            raise ArchspecError("--init-from starts a new run; --resume continues one from its own weights")
        if args.recipe is not None:
            raise ArchspecError("--resume continues with the run's own recipe; drop --recipe (use --set to change it)")
        if spec_sets and not args.spec:
            raise ArchspecError(f"--set {spec_sets[0]}: changing the spec on --resume needs the SPEC argument too")
        if args.input_size and not args.spec:
            raise ArchspecError("--input-size on --resume needs the SPEC argument too (a run's spec is fixed)")
        spec = sized(load_spec(args.spec, spec_sets), args.input_size) if args.spec else None
        from archspec.train.runs import DataOptions, RunOptions, execute, plan_from_rundir

        use_threads(args)
        data = DataOptions(args.data_dir, args.max_train, args.max_test)  # None fields: the run's own
        execute(plan_from_rundir(args.resume, spec, recipe_sets, RunOptions(None, data, args.device, args.quiet,
                                                                            limits=limits)), loggers)  # fmt: skip
        return 0
    if args.spec is None:
        raise ArchspecError("train needs a SPEC (a file or preset name), or --resume RUN_DIR")
    spec = sized(load_spec(args.spec, spec_sets), args.input_size)
    recipe = load_recipe(args.recipe or "d2l", recipe_sets)
    if not args.quiet:
        print(f"# spec {spec.name} ({spec_hash(spec)})\n{dump_spec(spec)}# recipe {recipe.name}\n{dump_recipe(recipe)}")
    from archspec.train.runs import DataOptions, RunOptions, execute, plan_run

    use_threads(args)
    data = DataOptions(args.data_dir, args.max_train, args.max_test)
    init_from = (lambda: _init_from(args, spec)) if args.init_from is not None else None
    options = RunOptions(args.out, data, args.device, args.quiet, limits=limits, init_from=init_from)
    execute(plan_run(spec, recipe, options), loggers)  # every refusal in plan_run, before any data is read
    return 0


def _loggers(args: argparse.Namespace) -> list[Callback]:
    names, tracking = log_choice(args)
    if not names:
        return []
    from archspec.train.loggers import LoggerOptions, make_loggers

    return make_loggers(names, options=LoggerOptions(tracking))


def _init_from(args: argparse.Namespace, spec: ResNetSpec) -> Pretrained:
    """The weights of --init-from, matched to the spec and checked before a run folder exists."""
    from archspec.report import load_table
    from archspec.train.finetune import prepare

    pretrained = prepare(args.init_from, spec, args.layout)  # its errors before a run folder exists
    return replace(pretrained, summary=load_table(pretrained.report, str(pretrained.source)))  # printed when used


def cmd_evaluate(args: argparse.Namespace) -> int:
    from archspec.artifacts.rundir import RunDir
    from archspec.report import evaluation_table
    from archspec.train.plots import plot_confusion
    from archspec.train.runs import DataOptions, evaluate_checkpoint

    use_threads(args)
    options = DataOptions(args.data_dir, None, args.max_test)
    result = evaluate_checkpoint(args.checkpoint, options, args.device, flip=args.flip)
    print(f"data: {result.data.describe()}{'; each image also mirrored (eval_flip)' if result.flip else ''}")
    print(evaluation_table(result.accuracy, result.matrix.tolist(), result.classes))
    target = args.png or RunDir.confusion_png_for(args.checkpoint)
    plot_confusion(
        result.matrix.tolist(), result.classes, target, f"{result.spec.name}: test acc {result.accuracy:.4f}"
    )
    print(f"confusion matrix: {target}")
    return 0


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where the recipe's data is: the IDX folder ('sample': the bundled 5,000/1,000 sample), the image "
        "folder's root, or the CIFAR archive",
    )
    parser.add_argument("--max-test", type=positive_int, metavar="N", help="use only N test images")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: cuda when available)")
    add_threads_argument(parser)


def register(commands: Commands) -> None:
    p = commands.add(
        "train", cmd_train, "Train a spec with a recipe; writes a run folder with metrics and checkpoints."
    )
    p.add_argument("spec", nargs="?", help="a spec file or preset name (optional with --resume)")
    p.add_argument("--recipe", help="a recipe file or bundled recipe name (default d2l)")
    p.add_argument("--set", action="append", default=[], dest="sets", metavar="PATH=VALUE",
                   help="override a recipe field (--set epochs=2 --set optimizer.lr=0.1) or a spec field "
                   "(--set stages[2].blocks=1); routed by the first key; repeatable")  # fmt: skip
    add_input_size_argument(p, "the spec's")
    p.add_argument("--out", type=Path, metavar="DIR", help="run folder (default runs/<spec>-<timestamp>)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its last complete epoch")
    p.add_argument("--init-from", type=Path, metavar="FILE|CKPT|RUN",
                   help="start from these weights: an archspec checkpoint or run folder, or a state dict "
                   "(torch.save or .safetensors) named as --layout says; matching tensors load, a first conv "
                   "with other input channels is adapted, a head with another class count is new")  # fmt: skip
    p.add_argument("--layout", choices=layout_names(), help="how the tensors of --init-from FILE are named")
    p.add_argument("--max-train", type=positive_int, metavar="N",
                   help="use only N training images (IDX, CIFAR: the first N; a folder: a fixed random N)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars: one plain line per epoch")
    add_log_arguments(p)
    _add_data_arguments(p)
    add_limit_arguments(p)
    p = commands.add("evaluate", cmd_evaluate, "Test accuracy, per-class accuracy and a confusion-matrix PNG.")
    p.add_argument("checkpoint", type=Path, help="a checkpoint file, or a run folder (uses its best.pt)")
    p.add_argument("--png", type=Path, help="where to write the confusion matrix (default: in the run folder)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="classify each image and its mirror and average them, or not (default: the recipe's "
                   "eval_flip)")  # fmt: skip
    _add_data_arguments(p)
