"""Torch modules for plan primitives and residual blocks.

One torch module per plan primitive (MODULES) and one residual block module for every block kind: a
block kind's structure is all in its plan (archspec/spec/blocks/<kind>.py lowers it), so a new kind
needs nothing here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archspec.arch import plan as P

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "silu": nn.SiLU,  # not in place: in-place SiLU would make autograd keep a copy of its input
    "gelu": nn.GELU,
}


class DropPath(nn.Module):
    """(N, ...) -> (N, ...): in training, zero whole samples with probability p and scale the rest by 1/(1-p)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class ZeroPad(nn.Module):
    """(N, C_in, H, W) -> (N, C_out, ceil(H/s), ceil(W/s)): subsample, append zero channels (option A)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class SqueezeExcite(nn.Module):
    """(N, C, H, W) -> (N, C, H, W): x times a per-channel sigmoid gate computed from its global average."""

    def __init__(self, channels: int, hidden: int, activation: str) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = _ACTIVATIONS[activation]()
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate: torch.Tensor = self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True))))  # (N, C, 1, 1)
        return x * gate.sigmoid()


def _conv(op: P.Conv) -> nn.Module:
    conv = nn.Conv2d(op.in_channels, op.out_channels, op.kernel_size, op.stride, op.padding, op.dilation, op.groups,
                     op.bias)  # fmt: skip
    return _zeroed(conv) if op.zero_init else conv


def _norm(op: P.Norm) -> nn.Module:
    norm = nn.GroupNorm(op.groups, op.channels) if op.kind == "group" else nn.BatchNorm2d(op.channels)
    return _zeroed(norm) if op.zero_init else norm


def _pool(op: P.Pool) -> nn.Module:
    if op.kind == "max":
        return nn.MaxPool2d(op.kernel_size, op.stride, op.padding, ceil_mode=op.ceil_mode)
    return nn.AvgPool2d(op.kernel_size, op.stride, op.padding, ceil_mode=op.ceil_mode,
                        count_include_pad=not op.ceil_mode)  # fmt: skip


# The torch module of each plan primitive: one entry per primitive type, in one place.
MODULES: dict[type, Callable[[Any], nn.Module]] = {
    P.Conv: _conv,
    P.Norm: _norm,
    P.Act: lambda op: _ACTIVATIONS[op.kind](),
    P.Pool: _pool,
    P.GlobalPool: lambda op: nn.AdaptiveAvgPool2d(1) if op.kind == "avg" else nn.AdaptiveMaxPool2d(1),
    P.Flatten: lambda op: nn.Flatten(1),
    P.Dropout: lambda op: nn.Dropout(op.p),
    P.DropPath: lambda op: DropPath(op.p),
    P.ZeroPad: lambda op: ZeroPad(op.in_channels, op.out_channels, op.stride),
    P.SqueezeExcite: lambda op: SqueezeExcite(op.channels, op.hidden, op.activation),
    P.Linear: lambda op: nn.Linear(op.in_features, op.out_features, op.bias),
}


def make_layer(op: P.Op) -> nn.Module:
    """The torch module of one plan primitive."""
    return MODULES[type(op)](op)


def _zeroed(module: nn.Conv2d | nn.BatchNorm2d | nn.GroupNorm) -> nn.Module:
    """The module with its weight (and a conv's bias) zeroed, so the branch it ends outputs zeros."""
    nn.init.zeros_(module.weight)
    if isinstance(module, nn.Conv2d) and module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


def make_sequential(layers: Iterable[P.Layer]) -> nn.Sequential:
    """An nn.Sequential whose children carry the plan's layer names."""
    return nn.Sequential(OrderedDict((layer.name, make_layer(layer.op)) for layer in layers))


class ResidualBlock(nn.Module):
    """(N, C_in, H, W) -> (N, C_out, H/s, W/s): post(main(pre(x)) + shortcut(pre(x))), every block kind alike.

    `pre` is empty but in pre-activation kinds; where the shortcut does not project, x itself is added
    (so a preact block's identity path carries x, not its normalised copy).
    """

    def __init__(self, block: P.Block) -> None:
        super().__init__()
        self.pre = make_sequential(block.pre)
        for module in self.pre.modules():  # x itself feeds the identity shortcut: never overwrite it
            if isinstance(module, nn.ReLU):
                module.inplace = False
        self.main = make_sequential(block.main)
        self.shortcut: nn.Module = make_sequential(block.shortcut) if block.shortcut else nn.Identity()
        self.post = make_sequential(block.post)
        self.projects = bool(block.shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre(x)
        out: torch.Tensor = self.post(self.main(pre) + (self.shortcut(pre) if self.projects else x))
        return out
