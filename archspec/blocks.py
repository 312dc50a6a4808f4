"""Torch modules for plan primitives and residual blocks.

Every residual block class takes the same constructor argument, its `plan.Block`,
so a new block kind is a new lowering in plan.py plus, at most, a forward here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

import torch
from torch import nn

from archspec import plan as P

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "silu": nn.SiLU,  # not in place: in-place SiLU would make autograd keep a copy of its input
    "gelu": nn.GELU,
}


def make_layer(op: P.Op) -> nn.Module:
    """The torch module of one plan primitive."""
    if isinstance(op, P.Conv):
        return nn.Conv2d(op.in_channels, op.out_channels, op.kernel_size, op.stride, op.padding,
                         op.dilation, op.groups, op.bias)  # fmt: skip
    if isinstance(op, P.Norm):
        return nn.BatchNorm2d(op.channels)
    if isinstance(op, P.Act):
        return _ACTIVATIONS[op.kind]()
    if isinstance(op, P.Pool):
        pool = nn.MaxPool2d if op.kind == "max" else nn.AvgPool2d
        return pool(op.kernel_size, op.stride, op.padding)
    if isinstance(op, P.GlobalPool):
        return nn.AdaptiveAvgPool2d(1) if op.kind == "avg" else nn.AdaptiveMaxPool2d(1)
    if isinstance(op, P.Flatten):
        return nn.Flatten(1)
    if isinstance(op, P.Dropout):
        return nn.Dropout(op.p)
    if isinstance(op, P.Linear):
        return nn.Linear(op.in_features, op.out_features, op.bias)
    raise AssertionError(f"no module for plan primitive {op!r}")


def make_sequential(layers: Iterable[P.Layer]) -> nn.Sequential:
    """An nn.Sequential whose children carry the plan's layer names."""
    return nn.Sequential(OrderedDict((layer.name, make_layer(layer.op)) for layer in layers))


class ResidualBlock(nn.Module):
    """(N, C_in, H, W) -> (N, C_out, H/s, W/s): post(main(x) + shortcut(x))."""

    def __init__(self, block: P.Block) -> None:
        super().__init__()
        self.main = make_sequential(block.main)
        self.shortcut: nn.Module = make_sequential(block.shortcut) if block.shortcut else nn.Identity()
        self.post = make_sequential(block.post)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.post(self.main(x) + self.shortcut(x))
        return out


class BasicBlock(ResidualBlock):
    """(N, C_in, H, W) -> (N, C, H/s, W/s): two 3x3 convs plus the shortcut."""


class BottleneckBlock(ResidualBlock):
    """(N, C_in, H, W) -> (N, C, H/s, W/s): 1x1 reduce, 3x3, 1x1 expand plus the shortcut."""


BLOCKS: dict[str, type[ResidualBlock]] = {"basic": BasicBlock, "bottleneck": BottleneckBlock}
