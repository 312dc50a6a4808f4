"""Random inputs the benchmarks time on, held as archspec holds an in-memory split (a TensorSplit)."""

from __future__ import annotations

import torch

from archspec.data.batches import TensorSplit


def random_split(count: int, seed: int = 0) -> TensorSplit:
    """`count` random 28x28 uint8 images and labels of 10 classes, the same for the same seed."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, 1, 28, 28), dtype=torch.uint8, generator=g)
    return TensorSplit(images, torch.randint(0, 10, (count,), generator=g))
