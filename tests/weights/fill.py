"""Deterministic weight fill shared by the reference-fixture generator and archspec's weight tests.

The fixtures in ``tests/weights/fixtures`` were produced by filling every parameter and buffer of a reference
network (torchvision, timm, d2l) with ``fill(reference_key, shape)`` and running ``input_batch(...)`` through it
in float64.  A test that loads the same values into an archspec preset -- mapping each archspec key to its
reference key -- must reproduce the stored logits, which proves the two compute the same function weight for
weight.  The fill depends only on the reference tensor name and shape, so it needs no torchvision to replay.

Rule (``u`` is uniform in [0, 1), drawn from a generator seeded by the SHA-256 of the name):

- ``...running_var``: ``0.5 + u``
- tensors with ``ndim >= 2`` (conv and linear weights): ``(2u - 1) * sqrt(3 / fan_in)``, ``fan_in = prod(shape[1:])``
- other 1-d tensors named ``...weight`` (norm scales): ``0.5 + u``
- remaining 1-d tensors (biases, ``running_mean``): ``(u - 0.5) * 0.2``

``num_batches_tracked`` is not filled: callers leave it as it is.
"""

from __future__ import annotations

import hashlib
import math

import torch


def fill(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The float64 values for the reference tensor ``name`` of ``shape``."""
    if name.endswith("num_batches_tracked"):
        raise ValueError(f"{name}: num_batches_tracked is not filled")
    shape = tuple(int(s) for s in shape)
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") % (2**63)
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(shape, generator=g, dtype=torch.float64)
    if name.endswith("running_var"):
        return 0.5 + u
    if len(shape) >= 2:
        fan_in = math.prod(shape[1:])
        return (2 * u - 1) * math.sqrt(3 / fan_in)
    if name.endswith("weight"):
        return 0.5 + u
    return (u - 0.5) * 0.2


def input_batch(channels: int, height: int, width: int) -> torch.Tensor:
    """The fixed float64 input batch, shape ``(2, channels, height, width)``."""
    g = torch.Generator().manual_seed(1234)
    return torch.randn((2, channels, height, width), generator=g, dtype=torch.float64)
