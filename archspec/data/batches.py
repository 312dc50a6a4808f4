"""Batches of uint8 images and labels on the training device, from a split held in memory or streamed from files.

Both kinds take the same `order` (a permutation drawn from the epoch's generator, or `arange` for evaluation)
and yield the same batches, so a streamed run trains exactly as an in-memory one. Streaming decodes each
batch in DataLoader worker processes (`FileSplit.workers`); an unreadable file is a one-line DataError
naming it, or is dropped from its batch and counted with `skip_unreadable`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from archspec.data import FileSplit, Split
from archspec.data.images import decode_image
from archspec.errors import DataError

Batch = tuple[torch.Tensor, torch.Tensor]


class Batches(Protocol):
    """What the training loop and evaluation read from: a length and batches in a given order."""

    def __len__(self) -> int: ...

    def batches(self, order: torch.Tensor, batch_size: int) -> Iterator[Batch]: ...


@dataclass(frozen=True)
class TensorSplit:
    """A split as uint8 tensors on the device: (N, C, H, W) or (N, H, W), and int64 labels."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batches(self, order: torch.Tensor, batch_size: int) -> Iterator[Batch]:
        order = order.to(self.labels.device)
        for begin in range(0, len(order), batch_size):
            index = order[begin : begin + batch_size]
            yield self.images[index], self.labels[index]


@dataclass
class StreamSplit:
    """A split decoded from its files batch by batch, in DataLoader workers."""

    split: FileSplit
    device: torch.device
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.split)

    def batches(self, order: torch.Tensor, batch_size: int) -> Iterator[Batch]:
        indices = order.cpu().tolist()
        sampler = [indices[begin : begin + batch_size] for begin in range(0, len(indices), batch_size)]
        workers = self.split.workers
        loader = DataLoader(
            _Files(self.split),
            batch_sampler=sampler,
            num_workers=workers,
            collate_fn=_collate,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if workers else None,
        )
        for images, labels, errors in loader:
            if errors:
                if not self.split.skip_unreadable:
                    raise DataError(f"{errors[0]}; set data.skip_unreadable: true to skip unreadable files")
                self.skipped.extend(errors)
            yield images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)


class _Files(TorchDataset[tuple[torch.Tensor | None, int, str | None]]):
    def __init__(self, split: FileSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int, str | None]:
        label = int(self.split.labels[index])
        try:
            pixels = decode_image(self.split.files[index], self.split.size, self.split.channels)
        except DataError as err:
            return None, label, str(err)
        return torch.from_numpy(pixels), label, None


def _collate(items: list[tuple[torch.Tensor | None, int, str | None]]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    good = [(image, label) for image, label, _ in items if image is not None]
    errors = [error for _, _, error in items if error is not None]
    if not good:
        return torch.empty(0, dtype=torch.uint8), torch.empty(0, dtype=torch.long), errors
    return torch.stack([image for image, _ in good]), torch.tensor([label for _, label in good]), errors


def on_device(split: Split | FileSplit, device: torch.device) -> TensorSplit | StreamSplit:
    """The trainer's view of a dataset split: tensors on `device`, or a stream from the files."""
    if isinstance(split, FileSplit):
        return StreamSplit(split, device)
    with warnings.catch_warnings():  # IDX arrays are read-only views of the file's bytes; nothing writes to them
        warnings.simplefilter("ignore", UserWarning)
        images = torch.from_numpy(split.images)
    labels = torch.from_numpy(np.ascontiguousarray(split.labels, dtype=np.int64))
    return TensorSplit(images.to(device), labels.to(device))


def steps(count: int, batch_size: int) -> int:
    return math.ceil(count / batch_size)
