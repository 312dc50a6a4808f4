"""Plan primitives: the layers a plan is made of, each with its shapes, parameters and mult-adds.

Pure Python, no torch. Each primitive knows its parameters (`params`) and its multiply-accumulates
(`macs(out_shape)`, per sample, convolutions and linear layers only, the gate of squeeze-excitation
included); complexity.py adds everything else up, so it needs no per-block formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """Shape of one sample: channels x height x width (height = width = 1 after flattening)."""

    channels: int
    height: int = 1
    width: int = 1

    @property
    def numel(self) -> int:
        return self.channels * self.height * self.width

    def __str__(self) -> str:
        return f"{self.channels}x{self.height}x{self.width}"


class _Free:
    """A primitive without parameters or mult-adds (activations, pooling, reshapes)."""

    params = 0

    def macs(self, out: Shape) -> int:
        return 0


@dataclass(frozen=True)
class Conv:
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    bias: bool = False
    groups: int = 1
    dilation: int = 1
    zero_init: bool = False  # weight (and bias) start at zero: the last layer of a zero-init residual branch

    def out_size(self, size: int) -> int:
        return (size + 2 * self.padding - self.dilation * (self.kernel_size - 1) - 1) // self.stride + 1

    @property
    def params(self) -> int:
        weight = self.out_channels * (self.in_channels // self.groups) * self.kernel_size**2
        return weight + (self.out_channels if self.bias else 0)

    def macs(self, out: Shape) -> int:
        return self.out_channels * (self.in_channels // self.groups) * self.kernel_size**2 * out.height * out.width


@dataclass(frozen=True)
class Norm:
    kind: str  # "batch" or "group"
    channels: int
    groups: int = 1  # group norm's groups; unused by batch norm
    zero_init: bool = False  # affine weight starts at zero: the last norm of a zero-init residual branch

    @property
    def params(self) -> int:
        return 2 * self.channels  # affine weight and bias; running stats are buffers

    def macs(self, out: Shape) -> int:
        return 0  # elementwise; reported apart from the mult-adds


@dataclass(frozen=True)
class Act(_Free):
    kind: str


@dataclass(frozen=True)
class Pool(_Free):
    kind: str
    kernel_size: int
    stride: int
    padding: int
    ceil_mode: bool = False  # ResNet-D's shortcut pool: keeps the last partial window, as a strided conv does

    def out_size(self, size: int) -> int:
        span = size + 2 * self.padding - self.kernel_size
        if not self.ceil_mode:
            return span // self.stride + 1
        out = math.ceil(span / self.stride) + 1
        # torch drops a last window that would start in the right padding
        return out - 1 if (out - 1) * self.stride >= size + self.padding else out


@dataclass(frozen=True)
class GlobalPool(_Free):
    kind: str


@dataclass(frozen=True)
class Flatten(_Free):
    """Flatten all but the batch dimension."""


@dataclass(frozen=True)
class Dropout(_Free):
    p: float


@dataclass(frozen=True)
class DropPath(_Free):
    """Stochastic depth: in training, zero a sample's residual branch with probability p (scaled by 1/(1-p))."""

    p: float


@dataclass(frozen=True)
class ZeroPad(_Free):
    """Parameter-free shortcut: keep every stride-th pixel, append zero channels (He et al. 2016, option A)."""

    in_channels: int
    out_channels: int
    stride: int

    def out_size(self, size: int) -> int:
        return -(-size // self.stride)  # x[..., ::stride] keeps ceil(size / stride)


@dataclass(frozen=True)
class SqueezeExcite:
    """x * sigmoid(fc2(act(fc1(avgpool(x))))): a channel gate with two biased 1x1 convs (Hu et al. 2018).

    One primitive rather than a sub-block: the gate multiplies into its own input, which a chain of
    layers cannot say, and its cost is two small matrix products whatever the feature map size.
    """

    channels: int
    hidden: int
    activation: str

    @property
    def params(self) -> int:
        return 2 * self.channels * self.hidden + self.hidden + self.channels

    def macs(self, out: Shape) -> int:
        return 2 * self.channels * self.hidden  # the two 1x1 convs act on the pooled 1x1 map


@dataclass(frozen=True)
class Linear:
    in_features: int
    out_features: int
    bias: bool = True

    @property
    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)

    def macs(self, out: Shape) -> int:
        return self.in_features * self.out_features


Op = Conv | Norm | Act | Pool | GlobalPool | Flatten | Dropout | DropPath | ZeroPad | SqueezeExcite | Linear


@dataclass(frozen=True)
class Layer:
    """One primitive with its name (the module's attribute name) and per-sample shapes."""

    name: str
    op: Op
    in_shape: Shape
    out_shape: Shape
