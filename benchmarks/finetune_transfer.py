"""Transfer: pretrain fashion-resnet on Fashion-MNIST classes 0-4, then train on classes 5-9 for one epoch,
from scratch and from those weights (`--init-from`), side by side, with the same seeds.

Three arms per seed: from scratch with the fashion-best recipe; --init-from with the same recipe; and
--init-from with fine-tuning settings (`--finetune-set`, default a quarter of the learning rate and ten
times that for the new head).

MNIST is not installable offline here (Debian packages only Fashion-MNIST), so the pretraining task is the
other half of Fashion-MNIST: t-shirt, trouser, pullover, dress, coat -> sandal, shirt, sneaker, bag, ankle
boot (relabelled 0-4). The pretrained head has 10 outputs, the target 5, so --init-from renews the head and
loads everything else. Each run is the real `archspec train` command, printed before it runs.

    .venv/bin/python benchmarks/finetune_transfer.py --work /tmp/transfer
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from archspec.data.base import Split
from archspec.data.idx import load_dataset

IDX = {3: b"\x00\x00\x08\x03", 1: b"\x00\x00\x08\x01"}


def write_idx(path: Path, data: np.ndarray) -> None:
    header = IDX[data.ndim] + b"".join(int(n).to_bytes(4, "big") for n in data.shape)
    path.write_bytes(header + np.ascontiguousarray(data, dtype=np.uint8).tobytes())


def five_classes(folder: Path, head: int = 5) -> list[str]:
    """--set options: the relabelled IDX files in `folder` (labels 0-4) with a `head`-class head; their names
    are declared through `data: {kind: idx, classes: ...}` (archspec.data.idx)."""
    names = ", ".join(f"class{i}" for i in range(head))
    return ["--set", f"head.num_classes={head}", "--set", "dataset=null",
            "--set", f"data={{kind: idx, root: {folder}, classes: [{names}]}}"]  # fmt: skip


def classes(split: Split, wanted: range, limit: int | None) -> Split:
    """The images of `wanted` classes (in file order, the first `limit`), relabelled 0..len(wanted)-1."""
    keep = (split.labels >= wanted.start) & (split.labels < wanted.stop)
    images, labels = split.images[keep], split.labels[keep] - wanted.start
    return Split(images, labels).head(limit)


def write_dataset(folder: Path, train: Split, test: Split) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, split in (("train", train), ("t10k", test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", split.images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", split.labels)


def train(args: list[str]) -> float:
    command = [sys.executable, "-m", "archspec", "train", *args]
    print("$ archspec train " + " ".join(args), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    out = Path(args[args.index("--out") + 1])
    last = (out / "metrics.jsonl").read_text().splitlines()[-1]
    return float(json.loads(last)["test_acc"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the datasets and runs (must not exist)")
    parser.add_argument("--data-dir", help="full Fashion-MNIST IDX folder (default: archspec's search path)")
    parser.add_argument("--pretrain-images", type=int, default=12000, help="first N training images of classes 0-4")
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    parser.add_argument("--finetune-images", type=int, default=2000, help="first N training images of classes 5-9")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--finetune-set", nargs="*", default=["optimizer.lr=0.001", "head_lr_scale=10"],
                        help="--set overrides of the third arm")  # fmt: skip
    parser.add_argument("--pretrained", type=Path, help="reuse this pretraining run instead of training one")
    args = parser.parse_args()

    data = load_dataset("fashion-mnist", args.data_dir)
    source, target = args.work / "classes-0-4", args.work / "classes-5-9"
    write_dataset(source, classes(data.train, range(0, 5), args.pretrain_images), classes(data.test, range(0, 5), None))
    write_dataset(target, classes(data.train, range(5, 10), None), classes(data.test, range(5, 10), None))
    common = ["--recipe", "fashion-best", "--quiet"]
    pretrained = args.pretrained or args.work / "pretrain"
    if args.pretrained is None:
        train(["fashion-resnet", *common, *five_classes(source, head=10), "--set", f"epochs={args.pretrain_epochs}",
               "--out", str(pretrained)])  # fmt: skip
    pretrain_acc = float(json.loads((pretrained / "metrics.jsonl").read_text().splitlines()[-1])["test_acc"])
    tuning = [item for override in args.finetune_set for item in ("--set", override)]
    rows = []
    for seed in args.seeds:
        target_args = ["fashion-resnet", *common, *five_classes(target), "--set", "epochs=1", "--set",
                       f"seed={seed}", "--max-train", str(args.finetune_images)]  # fmt: skip
        scratch = train([*target_args, "--out", str(args.work / f"scratch-{seed}")])
        tuned = train([*target_args, "--init-from", str(pretrained), "--out", str(args.work / f"finetune-{seed}")])
        gentle = train(
            [*target_args, *tuning, "--init-from", str(pretrained), "--out", str(args.work / f"gentle-{seed}")]
        )
        rows.append((seed, scratch, tuned, gentle))

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    print(f"\n{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"pretraining on classes 0-4 ({args.pretrain_images} images, {args.pretrain_epochs} epochs): "
          f"test acc {pretrain_acc:.4f} on the 5,000 test images of classes 0-4")  # fmt: skip
    print(
        f"one epoch on the first {args.finetune_images} training images of classes 5-9; "
        "test acc on their 5,000 test images"
    )
    print(f"third arm: --init-from with --set {' --set '.join(args.finetune_set)}")
    print("error ratio: (1 - acc) / (1 - scratch acc); below 1 means fewer test errors than from scratch")
    print(f"{'seed':>4}  {'scratch':>8}  {'--init-from':>11}  {'ratio':>5}  {'+ fine-tune set':>15}  {'ratio':>5}")
    means = [sum(r[i] for r in rows) / len(rows) for i in (1, 2, 3)]
    for label, scratch, tuned, gentle in [*((str(r[0]), *r[1:]) for r in rows), ("mean", *means)]:
        print(f"{label:>4}  {scratch:>8.4f}  {tuned:>11.4f}  {(1 - tuned) / (1 - scratch):>5.2f}  "
              f"{gentle:>15.4f}  {(1 - gentle) / (1 - scratch):>5.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
