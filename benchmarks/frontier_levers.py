"""Levers for the Fashion-MNIST frontier (issue 20, item 4), measured side by side before a 30-minute run.

    python benchmarks/frontier_levers.py steps fashion-resnet "fashion-resnet:stages[2].blocks=2" \\
        "fashion-resnet:stages[1].blocks=2,stages[2].blocks=2" "fashion-resnet:stages[2].blocks=2,width=1.25"
    python benchmarks/frontier_levers.py views runs/frontier-deep3/seed0/checkpoints/last.pt

`steps`: training examples/s of each network at 28x28 (a SPEC, or SPEC:PATH=VALUE,... with the override
grammar of `--set`), the training step of fashion-frontier (AdamW, label smoothing 0.1, bf16 autocast where
the CPU has it, channels_last), batch 128, on random inputs, one network after another in this process; the
first network also under `torch.compile`, with its ratio to eager. Each row gives the seconds of training an
epoch of 60,000 images would take, and of one test pass of 10,000 at batch 1000.

`views`: test accuracy of a checkpoint's weights, and of their average (EMA) where it has one, under
test-time augmentation: the image alone, with its mirror (the recipe's `eval_flip`), with four 1-pixel
shifts (zero fill, as the training crops pad), and the mirror and shifts together (10 views); softmax
outputs averaged. Nothing here is timed against a target: read the ratios, note the machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from machine import machine  # benchmarks/machine.py, beside this script
from torch import nn
from torch.nn import functional as F

from archspec.arch.complexity import complexity
from archspec.arch.validate import load_spec
from archspec.artifacts.checkpoint import checkpoint_model, load_checkpoint
from archspec.nn.build import build
from archspec.runtime import autocast, cpu_has_native_bf16, resolve_precision
from archspec.spec.schema import ResNetSpec
from archspec.train.runs import DataOptions, Request, Target, open_dataset, preprocessors

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
    print(f"{'network':58s} {'M MACs':>7s} {'ex/s':>7s} {'epoch s':>8s} {'test s':>7s}")
    eager = 0.0
    for index, text in enumerate(texts):
        spec = network(text)
        torch.manual_seed(0)
        model = build(spec).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        speed = examples_per_second(model, dtype, batch, count, warmup)
        macs = complexity(spec).macs_per_image / 1e6
        print(f"{text:58s} {macs:7.1f} {speed:7.0f} {60000 / speed:8.1f} {test_seconds(model, dtype):7.1f}")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["steps", "views"])
    parser.add_argument("targets", nargs="+", help="networks (steps) or checkpoints (views)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=25, help="timed steps per network")
    parser.add_argument("--warmup", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine(f"torch {torch.__version__} on {args.threads} threads"))
    if args.what == "steps":
        steps(args.targets, args.batch_size, args.steps, args.warmup)
    else:
        for target in args.targets:
            views(Path(target))


if __name__ == "__main__":
    main()
