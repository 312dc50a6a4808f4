"""The ConvNeXt roadmap's first and last step trained side by side: the same data, recipe, epochs and seed.

The first step is docs/examples/convnext-roadmap/01-resnet50.yaml (torchvision's ResNet-50), the last
13-downsampling-layers.yaml (ConvNeXt-T), both at Fashion-MNIST's 1 channel resized to 32x32 with a 10-class
head: the real `archspec train` command for each (printed before it runs) with the fashion-best recipe (AdamW,
one-cycle, flips, label smoothing), on the first N training images, tested on the first M test images. A small,
short budget: it shows the two train and compares them at equal cost in data and epochs, not the paper's
ImageNet result.

    .venv/bin/python benchmarks/convnext_roadmap_train.py --work /tmp/roadmap-train
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from archspec import load_spec
from archspec.arch.complexity import totals

REPO = Path(__file__).resolve().parent.parent
STEPS = REPO / "docs" / "examples" / "convnext-roadmap"
FIRST, LAST = STEPS / "01-resnet50.yaml", STEPS / "13-downsampling-layers.yaml"


def run(spec: Path, out: Path, seed: int, args: argparse.Namespace) -> tuple[float, float, float]:
    """(test accuracy after the last epoch, train loss of that epoch, seconds) of one `archspec train`."""
    command = [str(spec), "--recipe", "fashion-best", "--input-size", "1", str(args.size), str(args.size),
               "--set", "head.num_classes=10", "--set", f"resize={args.size}", "--set", f"epochs={args.epochs}",
               "--set", f"seed={seed}", "--max-train", str(args.train), "--max-test", str(args.test),
               "--quiet", "--out", str(out)]  # fmt: skip
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    print("$ archspec train " + " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "archspec", "train", *command], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    return float(last["test_acc"]), float(last["train_loss"]), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the run folders (must not exist)")
    parser.add_argument("--data-dir", help="Fashion-MNIST IDX folder (default: archspec's search path)")
    parser.add_argument("--train", type=int, default=1500, help="first N training images")
    parser.add_argument("--test", type=int, default=1000, help="first N test images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size", type=int, default=32, help="input side in pixels (Fashion-MNIST resized)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    args.work.mkdir(parents=True)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the "
          f"start, torch {torch.__version__}, Python {platform.python_version()}")  # fmt: skip
    print(
        f"data: first {args.train} Fashion-MNIST training images, first {args.test} test images, "
        f"{args.size}x{args.size}, {args.epochs} epochs, seeds {args.seeds}, recipe fashion-best"
    )
    steps = (("first step (ResNet-50)", FIRST), ("last step (ConvNeXt-T)", LAST))
    rows = []
    for seed in args.seeds:  # the two arms of one seed run back to back, under the same load
        for label, spec in steps:
            acc, loss, seconds = run(spec, args.work / f"{spec.stem}-seed{seed}", seed, args)
            rows.append((label, spec, seed, acc, loss, seconds))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'step':24s} {'spec':28s} {'params':>11s} {'MMACs':>6s} {'seed':>4s} {'test acc':>8s} {'train loss':>10s} "
          f"{'seconds':>7s}")  # fmt: skip
    for label, spec, seed, acc, loss, seconds in rows:
        cost = totals(load_spec(spec), (1, args.size, args.size))
        print(f"{label:24s} {spec.name:28s} {cost.params:11,d} {cost.macs / 1e6:6.1f} {seed:4d} {acc:8.4f} "
              f"{loss:10.4f} {seconds:7.1f}")  # fmt: skip
    means = [statistics.mean(row[3] for row in rows if row[1] == spec) for _, spec in steps]
    print(
        f"mean test accuracy over {len(args.seeds)} seeds: first {means[0]:.4f}, last {means[1]:.4f}, "
        f"last - first {means[1] - means[0]:+.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
