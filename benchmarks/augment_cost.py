"""What the recipe's new augmentations (issue 20) cost per training step on this CPU, side by side.

    python benchmarks/augment_cost.py                  # fashion-resnet 28x28 batch 128, d2l-resnet18 96x96 batch 64
    python benchmarks/augment_cost.py --steps 4 --rounds 2

For each network, archspec's real training step (train.loop.train_epoch: preprocessing, forward, backward,
optimizer, schedule) is timed with a plain recipe (flips only) and with each new field added, the variants
interleaved round by round so that other work on the machine weighs on all alike (the median round is
kept). Beside it, the augmentation alone (the batch's preprocessing plus mixing, as the step runs it) is
timed on the same batches: its share of the step is what the issue's target (< 10%) is about. The images
are random uint8 at Fashion-MNIST's stored 28x28 (the augmentations run there, before the resize, so their
cost does not depend on the content); autoaugment needs RGB images and is left out on this 1-channel data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from inputs import random_split  # benchmarks/inputs.py, beside this script
from machine import machine  # benchmarks/machine.py, beside this script

from archspec.arch.validate import load_spec
from archspec.data.batches import TensorSplit
from archspec.data.preprocess import Preprocessing
from archspec.deploy.bench import load_warning
from archspec.nn.build import build
from archspec.recipe.schema import load_recipe
from archspec.train.loop import epoch_generator, make_session, train_epoch

ALL = [
    "augment.mixup=0.2",
    "augment.cutmix=1.0",
    "augment.policy=trivialaugment",
    "ema.decay=0.999",
    "clip_grad_norm=5.0",
]
VARIANTS = {
    "flip only (baseline)": [],
    "+ mixup/cutmix": ["augment.mixup=0.2", "augment.cutmix=1.0"],
    "+ randaugment": ["augment.policy=randaugment"],
    "+ trivialaugment": ["augment.policy=trivialaugment"],
    "+ ema": ["ema.decay=0.999"],
    "+ clip_grad_norm": ["clip_grad_norm=5.0"],
    "+ all (trivialaugment)": ALL,
}
NETWORKS = (("fashion-resnet", 28, 128), ("d2l-resnet18", 96, 64))


def session(spec_name: str, size: int, batch: int, sets: list[str]):  # type: ignore[no-untyped-def]
    recipe = load_recipe("d2l", [f"resize={size}", f"batch_size={batch}", "epochs=1", "optimizer.momentum=0.9",
                                 "augment.flip=true", "precision=fp32", *sets])  # fmt: skip
    spec = load_spec(spec_name)
    torch.manual_seed(0)
    model = build(spec)
    prep = Preprocessing(size, size, 1, (0.0,), (1.0,))
    return make_session(model, recipe, prep, torch.device("cpu"), 10, classes=10)


def step_seconds(run, data: TensorSplit, batch: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds per training step over `data` (one epoch of it)."""
    began = time.perf_counter()
    train_epoch(run, data, 0)
    return (time.perf_counter() - began) / (len(data) // batch)


def augment_seconds(run, data: TensorSplit, batch: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds per batch of the augmentation alone: preprocessing (with the policy) and mixing."""
    generator = epoch_generator(run.recipe, 0, torch.device("cpu"))
    began = time.perf_counter()
    for images, labels in data.batches(torch.arange(len(data)), batch):
        x = run.train_prep(images, generator)
        if run.mix is not None:
            run.mix(x, labels, generator)
    return (time.perf_counter() - began) / (len(data) // batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--networks", nargs="+", default=[name for name, _, _ in NETWORKS],
                        choices=[name for name, _, _ in NETWORKS])  # fmt: skip
    args = parser.parse_args()
    print(machine(f"torch {torch.__version__} on {torch.get_num_threads()} threads"))
    print(load_warning() or "the CPU was otherwise idle at the start")
    for spec_name, size, batch in (network for network in NETWORKS if network[0] in args.networks):
        data = random_split(batch * args.steps)
        runs = {name: session(spec_name, size, batch, sets) for name, sets in VARIANTS.items()}
        for run in runs.values():  # warm up: kornia's first call, oneDNN's kernels
            step_seconds(run, random_split(batch), batch)
        steps: dict[str, list[float]] = {name: [] for name in runs}
        augments: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                steps[name].append(step_seconds(run, data, batch))
                augments[name].append(augment_seconds(run, data, batch))
        base = statistics.median(steps["flip only (baseline)"])
        print(f"\n{spec_name} at {size}x{size}, batch {batch}, fp32, {args.steps} steps x {args.rounds} rounds")
        print(f"{'variant':<26} {'step ms':>9} {'vs base':>8} {'augment ms':>11} {'augment share':>14}")
        for name in runs:
            step, augment = statistics.median(steps[name]), statistics.median(augments[name])
            print(f"{name:<26} {step * 1e3:>9.1f} {step / base:>7.2f}x {augment * 1e3:>11.1f} {augment / step:>13.1%}")
    print("\n" + (load_warning() or "the CPU was otherwise idle at the end"))


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each table as it is measured
    main()
