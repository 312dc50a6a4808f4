"""Levers for the Fashion-MNIST frontier (issue 20, item 4), measured side by side before a 30-minute run.

    python benchmarks/frontier_levers.py steps fashion-resnet "fashion-resnet:stages[2].blocks=2" \\
        "fashion-resnet:stages[1].blocks=2,stages[2].blocks=2" "fashion-resnet:stages[2].blocks=2,width=1.25"
    python benchmarks/frontier_levers.py views runs/frontier-deep3/seed0/checkpoints/last.pt
    python benchmarks/frontier_levers.py loop fashion-resnet-deep --images 12000 --rounds 3

`steps`: training examples/s of each network at 28x28 (a SPEC, or SPEC:PATH=VALUE,... with the override
grammar of `--set`), the training step of fashion-frontier (AdamW, label smoothing 0.1, bf16 autocast where
the CPU has it, channels_last), batch 128, on random inputs, one network after another in this process; the
first network also under `torch.compile`, with its ratio to eager. Each row gives the seconds of training an
epoch of 60,000 images would take, and of one test pass of 10,000 at batch 1000, as is and with the batch norms
folded into the convolutions (what every test pass of a run does since nn/fold.py).

`views`: test accuracy of a checkpoint's weights, and of their average (EMA) where it has one, under
test-time augmentation: the image alone, with its mirror (the recipe's `eval_flip`), with four 1-pixel
shifts (zero fill, as the training crops pad), and the mirror and shifts together (10 views); softmax
outputs averaged.

`loop`: the whole training loop of a run (`make_session`, `train_epoch` and the epoch's test pass, as
`archspec train` runs them with fashion-frontier: crops, flips, erasing, the EMA, the flip at test time) on
`--images` random 28x28 images (a short last batch included; progressive resizing off, so that every round
trains at 28x28) and 1,000 test images, under each lever in
LEVERS, one epoch each round, interleaved round by round; a first untimed epoch per lever compiles and
warms up. It answers what `steps` cannot: whether a lever that speeds up the bare step survives the loop
around it (a short last batch and the eval-mode test pass change the shapes a compiled model sees).
Nothing here is timed against a target: read the ratios, note the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from inputs import random_split  # benchmarks/inputs.py, beside this script
from machine import machine  # benchmarks/machine.py, beside this script
from torch import nn
from torch.nn import functional as F

from archspec.arch.complexity import complexity
from archspec.arch.validate import load_spec
from archspec.artifacts.checkpoint import checkpoint_model, load_checkpoint
from archspec.data import Request, Split, Target, open_dataset
from archspec.data.preprocess import Preprocessing
from archspec.nn.build import build
from archspec.nn.fold import eval_copy
from archspec.recipe.schema import SGD, load_recipe
from archspec.runtime import autocast, cpu_has_native_bf16, resolve_precision
from archspec.spec.schema import ResNetSpec
from archspec.train.finetune import param_groups
from archspec.train.loop import Session, confusion_matrix, make_scheduler, make_session, preprocessors, train_epoch
from archspec.train.runs import DataOptions

CPU = torch.device("cpu")


def network(text: str) -> ResNetSpec:
    name, _, sets = text.partition(":")
    return load_spec(name, [each for each in sets.split(",") if each])


def examples_per_second(model: nn.Module, dtype: torch.dtype | None, batch: int, steps: int, warmup: int) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        with autocast(CPU, dtype):
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def test_seconds(model: nn.Module, dtype: torch.dtype | None) -> float:
    model.eval()
    x = torch.randn(1000, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(CPU, dtype):
        model(x)
        start = time.perf_counter()
        model(x)
        model(x)
    model.train()
    return 10 * (time.perf_counter() - start) / 2


def steps(texts: list[str], batch: int, count: int, warmup: int) -> None:
    dtype = torch.bfloat16 if cpu_has_native_bf16() else None
    print(f"train step: AdamW, batch {batch}, {'bf16' if dtype else 'fp32'} autocast, channels_last")
    print(f"{'network':58s} {'M MACs':>7s} {'ex/s':>7s} {'epoch s':>8s} {'test s':>7s} {'folded':>7s}")
    eager = 0.0
    for index, text in enumerate(texts):
        spec = network(text)
        torch.manual_seed(0)
        model = build(spec).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        speed = examples_per_second(model, dtype, batch, count, warmup)
        macs = complexity(spec).macs_per_image / 1e6
        plain, folded = test_seconds(model, dtype), test_seconds(eval_copy(model), dtype)
        print(f"{text:58s} {macs:7.1f} {speed:7.0f} {60000 / speed:8.1f} {plain:7.2f} {folded:7.2f}"
              f"  test pass {plain / folded:.2f}x folded")  # fmt: skip
        if index == 0:
            eager = speed
            compiled = torch.compile(model)
            speed = examples_per_second(compiled, dtype, batch, count, warmup + 3)  # type: ignore[arg-type]
            print(f"{'  the same under torch.compile':58s} {'':7s} {speed:7.0f} {60000 / speed:8.1f}"
                  f"   {speed / eager:.2f}x eager")  # fmt: skip


def shifted(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """(N, H, W) images moved by (dx, dy) pixels, zero (black) filled, as the training crops pad."""
    height, width = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1))
    return padded[..., 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]


def views(path: Path) -> None:
    checkpoint = load_checkpoint(path)
    model, spec = checkpoint_model(path, checkpoint)
    _, preprocessing = checkpoint.labels()
    recipe = checkpoint.recipe()
    data = open_dataset(recipe.source, Request(DataOptions(None, None, None), Target.of(spec), train=False))
    _, prep = preprocessors(recipe, preprocessing, CPU)  # the run's own test transform, as evaluate uses
    dtype, _ = resolve_precision(recipe.precision, CPU)
    assert isinstance(data.test, Split), "Fashion-MNIST is read into memory"
    images = torch.tensor(data.test.images)  # a copy: the split may be a read-only memory map
    labels = torch.as_tensor(data.test.labels).long()
    shifts = [(1, 0), (-1, 0), (0, 1), (0, -1)]
    groups = {
        "alone": ["id"],
        "mirror (eval_flip)": ["id", "flip"],
        "4 shifts": ["id"] + [f"shift{s}" for s in shifts],
        "mirror + shifts (10)": ["id", "flip"] + [f"{f}shift{s}" for f in ("", "flip") for s in shifts],
    }
    weights = {"weights": checkpoint.model}
    if checkpoint.training is not None and checkpoint.training.ema is not None:
        weights["EMA"] = checkpoint.training.ema["weights"]
    print(f"{path}: test accuracy by test-time views, softmax averaged")
    for name, state in weights.items():
        model.load_state_dict(state)
        model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        scores: dict[str, list[torch.Tensor]] = {}
        with torch.inference_mode(), autocast(CPU, dtype):
            for start in range(0, len(labels), 1000):
                x = images[start : start + 1000]
                each = {"id": x, "flip": x.flip(-1)}
                for s in shifts:
                    each[f"shift{s}"] = shifted(x, *s)
                    each[f"flipshift{s}"] = shifted(x.flip(-1), *s)
                for key, view in each.items():
                    scores.setdefault(key, []).append(model(prep(view)).float().softmax(1))
        joined = {key: torch.cat(value) for key, value in scores.items()}
        cells = []
        for group, keys in groups.items():
            predicted = sum((joined[key] for key in keys), torch.zeros_like(joined["id"])).argmax(1)
            cells.append(f"{group} {float((predicted == labels).float().mean()):.4f}")
        print(f"  {name:8s} " + ", ".join(cells))


Lever = Callable[[Session, int], Session]


def compiled(dynamic: bool | None) -> Lever:
    def lever(session: Session, steps: int) -> Session:
        return dataclasses.replace(session, forward=torch.compile(session.forward, dynamic=dynamic))

    return lever


def implementation(**kind: bool) -> Lever:
    """The recipe's optimizer with torch's `foreach` or `fused` implementation (the loop's own sets neither,
    and on CPU torch then runs its per-tensor for-loop)."""

    def lever(session: Session, steps: int) -> Session:
        recipe = session.recipe
        opt = recipe.optimizer
        groups = param_groups(session.model, recipe, opt.lr)
        optimizer: torch.optim.Optimizer
        if isinstance(opt, SGD):
            optimizer = torch.optim.SGD(groups, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov,
                                        weight_decay=opt.weight_decay, **kind)  # fmt: skip
        else:
            optimizer = torch.optim.AdamW(groups, lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay, **kind)
        return dataclasses.replace(session, optimizer=optimizer, scheduler=make_scheduler(optimizer, recipe, steps))

    return lever


def unchanged(session: Session, steps: int) -> Session:
    return session


SGD_SET = "optimizer={kind: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.0005}"
LEVERS: dict[str, tuple[list[str], Lever]] = {
    "as bundled (eager)": ([], unchanged),
    "torch.compile (the recipe's compile: true)": ([], compiled(None)),
    "torch.compile, dynamic=False": ([], compiled(False)),
    "AdamW foreach": ([], implementation(foreach=True)),
    "AdamW fused": ([], implementation(fused=True)),
    "ema.every=4": (["ema.every=4"], unchanged),
    "batch_size=256": (["batch_size=256"], unchanged),
    "batch_size=256, AdamW fused": (["batch_size=256"], implementation(fused=True)),
    "SGD momentum (d2l's kind)": ([SGD_SET], unchanged),
    "SGD momentum fused": ([SGD_SET], implementation(fused=True)),
}


def loop(spec_text: str, recipe_name: str, count: int, rounds: int) -> None:
    spec = network(spec_text)
    train, test = random_split(count, 0), random_split(1000, 1)
    preprocessing = Preprocessing(28, 28, 1, (0.286,), (0.353,))
    sessions: dict[str, Session] = {}
    for name, (sets, lever) in LEVERS.items():
        recipe = load_recipe(recipe_name, ["progressive_resize=null", *sets])  # every round at the full 28x28
        torch.manual_seed(0)
        steps = -(-count // recipe.batch_size)
        session = make_session(build(spec), recipe, preprocessing, CPU, steps, classes=10)
        sessions[name] = lever(session, steps)
    recipe = sessions["as bundled (eager)"].recipe  # the header's, not the last lever's
    print(f"{spec_text} with {recipe_name}: train_epoch over {count} images (batch {recipe.batch_size}, last "
          f"{count % recipe.batch_size or recipe.batch_size}), then a test pass of {len(test)} (flip "
          f"{recipe.eval_flip}, weights and EMA); median of {rounds} rounds after one warm-up epoch")  # fmt: skip
    seconds: dict[str, list[float]] = {name: [] for name in sessions}
    tests: dict[str, list[float]] = {name: [] for name in sessions}
    for epoch in range(rounds + 1):
        for name, session in sessions.items():
            began = time.perf_counter()
            train_epoch(session, train, epoch)
            trained = time.perf_counter()
            models = [session.model] + ([session.average.module] if session.average is not None else [])
            for model in models:
                confusion_matrix(model, test, session.test_prep, session.recipe.eval_batch_size, CPU, session.dtype,
                                 classes=10, flip=session.recipe.eval_flip)  # fmt: skip
            if epoch:  # the first epoch warms up (and compiles)
                seconds[name].append(trained - began)
                tests[name].append(time.perf_counter() - trained)
    base = count / statistics.median(seconds["as bundled (eager)"])
    print(f"{'lever':46s} {'train ex/s':>10s} {'ratio':>6s} {'test s':>7s} {'epoch s at 60,000':>18s}")
    for name in sessions:
        speed = count / statistics.median(seconds[name])
        test_s = statistics.median(tests[name])
        epoch_s = 60000 / speed + 10 * test_s
        print(f"{name:46s} {speed:10.0f} {speed / base:5.2f}x {test_s:7.2f} {epoch_s:18.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["steps", "views", "loop"])
    parser.add_argument("targets", nargs="+", help="networks (steps, loop: the first) or checkpoints (views)")
    parser.add_argument("--recipe", default="fashion-frontier", help="loop: the recipe")
    parser.add_argument("--images", type=int, default=12000, help="loop: training images per epoch")
    parser.add_argument("--rounds", type=int, default=3, help="loop: timed epochs per lever")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=25, help="timed steps per network")
    parser.add_argument("--warmup", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine(f"torch {torch.__version__} on {args.threads} threads"))
    if args.what == "steps":
        steps(args.targets, args.batch_size, args.steps, args.warmup)
    elif args.what == "loop":
        loop(args.targets[0], args.recipe, args.images, args.rounds)
    else:
        for target in args.targets:
            views(Path(target))


if __name__ == "__main__":
    main()
