"""Datasets as recipe values: each kind is one module (its schema model and its loader), registered here.

    data: {kind: idx, name: fashion-mnist}            idx.py     MNIST-style IDX files (the default)
    data: {kind: folder, root: ~/pets}                folder.py  one folder per class, decoded with Pillow
    data: {kind: cifar, root: cifar-10-python.tar.gz} cifar.py   CIFAR-10/100 python-version archives

`open_dataset(recipe_data, Request(options, target))` returns a `Dataset` (classes, channels, native size,
train and test splits) after checking it against the spec. numpy and Pillow only: no torch here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from archspec.data import cifar, folder, idx
from archspec.data.base import (
    DataOptions,
    Dataset,
    FileSplit,
    Request,
    Split,
    Target,
    channel_stats,
)
from archspec.data.cifar import CifarData
from archspec.data.folder import FolderData
from archspec.data.idx import IdxData
from archspec.data.images import decode_image

DataSource = Annotated[IdxData | FolderData | CifarData, Field(discriminator="kind")]
LOADERS: dict[str, Callable[[Any, Request], Dataset]] = {"idx": idx.load, "folder": folder.load, "cifar": cifar.load}
KINDS = tuple(LOADERS)
STATS_SAMPLE = 2_000  # images a streamed split's mean and std are estimated from


def open_dataset(source: IdxData | FolderData | CifarData, request: Request, stats: bool = False) -> Dataset:
    """The dataset a recipe names, checked against `request.target`; with `stats`, its mean/std filled in."""
    data = LOADERS[source.kind](source, request)
    if stats and data.mean is None and data.train is not None:
        mean, std = training_stats(data.train, data.channels)
        data = data.with_stats(mean, std, measured="the training split")  # said in the data line
    return data


def training_stats(split: Split | FileSplit, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of pixel/255: over the whole split, or a seeded sample of a streamed one."""
    if isinstance(split, Split):
        return channel_stats(split, channels)
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.permutation(len(split))[:STATS_SAMPLE])
    images = []
    for index in chosen:
        try:
            images.append(decode_image(split.files[index], split.size, split.channels))
        except Exception:
            if not split.skip_unreadable:
                raise
    return channel_stats(Split(np.stack(images), np.zeros(len(images), dtype=np.int64)), channels)


__all__ = [
    "KINDS",
    "CifarData",
    "DataOptions",
    "DataSource",
    "Dataset",
    "FileSplit",
    "FolderData",
    "IdxData",
    "Request",
    "Split",
    "Target",
    "open_dataset",
    "training_stats",
]
