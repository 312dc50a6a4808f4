"""The folder-dataset input pipeline on Fashion-MNIST written out as 70,000 PNG files.

    python benchmarks/data_pipeline.py                       # the full IDX files: apt-get install dataset-fashion-mnist
    python benchmarks/data_pipeline.py --epoch-images 20000  # a shorter training epoch

1. Writes the 60,000 + 10,000 images as PNGs under --out (root/train/<class>/, root/test/<class>/; skipped
   when already there).
2. First epoch: lists and decodes all 70,000 files with Pillow into the decode cache, in one process and in
   worker processes, side by side, each into a fresh cache: images/s and the ratio. Then opens the folder
   again (a cache hit) and, for reference, reads the same images from the IDX files.
3. After the cache: one epoch of `fashion-resnet` with the `fashion-best` recipe through archspec's real
   training loop, timing how long the loop waits for batches and prepares them (the data share of the epoch).
   The same measured on a streamed split (decoded from the files every epoch by DataLoader workers), on a
   smaller number of images, for comparison.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from machine import machine  # benchmarks/machine.py, beside this script
from PIL import Image

from archspec.arch.validate import load_spec
from archspec.data import FileSplit, FolderData, Request, Split, Target, open_dataset
from archspec.data.batches import Batch, on_device
from archspec.data.idx import DATASETS, load_dataset
from archspec.nn.build import build
from archspec.recipe.schema import load_recipe
from archspec.runtime import resolve_precision
from archspec.train.fit import preprocessing_for
from archspec.train.init import init_weights
from archspec.train.loop import make_session, train_epoch

TARGET = Target(1, 28, 28, 10, "spec fashion-resnet")


def write_pngs(source: str, root: Path) -> float:
    """Seconds taken to write the IDX images as PNG files (0 when they were already written)."""
    done = root / ".complete"
    if done.exists():
        return 0.0
    began = time.perf_counter()
    data = load_dataset("fashion-mnist", source)
    for split, part in (("train", data.train), ("test", data.test)):
        assert part is not None
        for name in DATASETS["fashion-mnist"].classes:
            (root / split / name).mkdir(parents=True, exist_ok=True)
        for index, (image, label) in enumerate(zip(part.images, part.labels, strict=True)):
            Image.fromarray(image).save(root / split / DATASETS["fashion-mnist"].classes[label] / f"{index:05d}.png")
    done.touch()
    return time.perf_counter() - began


def open_folder(root: Path, cache: Path, workers: int, **fields: object) -> tuple[float, object]:
    os.environ["ARCHSPEC_CACHE"] = str(cache)
    config = FolderData.model_validate({"kind": "folder", "root": str(root), "workers": workers, **fields})
    began = time.perf_counter()
    data = open_dataset(config, Request(target=TARGET, quiet=True), stats=True)
    return time.perf_counter() - began, data


class Timed:
    """Wraps a split and a batch transform; adds up the seconds the training loop spends in either."""

    def __init__(self, split: object, prep: object) -> None:
        self.split, self.prep, self.seconds = split, prep, 0.0

    def __len__(self) -> int:
        return len(self.split)  # type: ignore[arg-type]

    def batches(self, order: torch.Tensor, batch_size: int) -> Iterator[Batch]:
        stream = self.split.batches(order, batch_size)  # type: ignore[attr-defined]
        while True:
            began = time.perf_counter()
            try:
                batch = next(stream)
            except StopIteration:
                return
            self.seconds += time.perf_counter() - began
            yield batch

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        began = time.perf_counter()
        out = self.prep(images, generator)  # type: ignore[operator]
        self.seconds += time.perf_counter() - began
        return out


def epoch_share(data: object, split: Split | FileSplit, recipe_sets: list[str]) -> tuple[float, float, int]:
    """(data seconds, epoch seconds, images) of one training epoch of fashion-resnet over `split`."""
    recipe = load_recipe("fashion-best", ["epochs=1", *recipe_sets])
    spec = load_spec("fashion-resnet")
    torch.manual_seed(0)
    model = build(spec)
    init_weights(model, recipe.init, spec)
    device = torch.device("cpu")
    prep = preprocessing_for(spec, recipe, data)  # type: ignore[arg-type]
    session = make_session(model, recipe, prep, device, -(-len(split) // recipe.batch_size))
    timed = Timed(on_device(split, device), session.train_prep)
    session.train_prep = timed  # type: ignore[assignment]
    began = time.perf_counter()
    train_epoch(session, timed, 0)  # no callback: no progress output
    return timed.seconds, time.perf_counter() - began, len(split)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist", help="folder of the IDX files")
    parser.add_argument("--out", type=Path, default=Path("/tmp/fashion-mnist-png"), help="where the PNGs go")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="decoding processes")
    parser.add_argument("--epoch-images", type=int, default=60_000, help="training images in the timed epoch")
    parser.add_argument("--stream-images", type=int, default=10_000, help="images in the streamed comparison")
    args = parser.parse_args()
    print(machine(f"torch {torch.__version__} on {torch.get_num_threads()} threads"))
    wrote = write_pngs(args.source, args.out)
    count = sum(1 for _ in args.out.rglob("*.png"))
    print(f"{count:,} PNG files in {args.out}" + (f" (written in {wrote:.1f} s)" if wrote else " (already there)"))

    with tempfile.TemporaryDirectory() as scratch:
        rows = []
        for workers in (0, args.workers):
            seconds, data = open_folder(args.out, Path(scratch) / f"cache-{workers}", workers)
            rows.append((f"first epoch: list + decode, {workers or 'no'} worker processes", seconds))
        seconds, data = open_folder(args.out, Path(scratch) / f"cache-{args.workers}", args.workers)
        rows.append(("later runs: list + stat + open the cache", seconds))
        began = time.perf_counter()
        load_dataset("fashion-mnist", args.source)
        rows.append(("reference: the same images from the IDX files", time.perf_counter() - began))
        print(f"\n{'what':<52} {'seconds':>8} {'images/s':>10} {'vs 1 process':>13}")
        base = rows[0][1]
        for what, seconds in rows:
            print(f"{what:<52} {seconds:>8.2f} {count / seconds:>10,.0f} {base / seconds:>12.2f}x")

        assert isinstance(data.train, Split)  # type: ignore[attr-defined]
        head = slice(0, args.epoch_images)
        train = Split(data.train.images[head], data.train.labels[head])  # type: ignore[attr-defined]
        cached = epoch_share(data, train, [])
        streamed_data = open_folder(args.out, Path(scratch) / "stream", 2, memory_limit=1)[1]
        stream = streamed_data.train  # type: ignore[attr-defined]
        assert isinstance(stream, FileSplit)
        keep = np.random.default_rng(0).permutation(len(stream))[: args.stream_images]
        stream = FileSplit(tuple(stream.files[i] for i in keep), stream.labels[keep], stream.size, 1, False, 2)
        small = Split(data.train.images[keep], data.train.labels[keep])  # type: ignore[attr-defined]
        results = [
            ("cached (memory-mapped)", *cached),
            ("cached, same images as streamed", *epoch_share(data, small, [])),
            ("streamed (2 DataLoader workers)", *epoch_share(streamed_data, stream, [])),
        ]
        precision = resolve_precision(load_recipe("fashion-best").precision, torch.device("cpu"))[1]
        print(f"\none epoch of fashion-resnet, recipe fashion-best (batch 128, {precision})")
        print(f"{'data':<34} {'images':>7} {'epoch s':>8} {'data s':>7} {'data share':>10} {'images/s':>9}")
        for what, data_s, total_s, images in results:
            share = data_s / total_s
            print(f"{what:<34} {images:>7,} {total_s:>8.1f} {data_s:>7.2f} {share:>9.1%} {images / total_s:>9.0f}")


if __name__ == "__main__":
    main()
