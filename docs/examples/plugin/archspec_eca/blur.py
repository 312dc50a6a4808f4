"""An anti-aliased downsampling shortcut (Zhang 2019, "Making Convolutional Networks Shift-Invariant Again"):
blur with a fixed 3x3 binomial filter before subsampling, then the 1x1 conv and norm. No torch here.

The blur is parameter-free (its filter is a buffer) and pads with zeros, so it fits any feature map
(antialiased-cnns pads by reflection, which needs a map of at least 2x2).
"""

from __future__ import annotations

from dataclasses import dataclass

from archspec.arch.primitives import Kept, Primitive, Shape
from archspec.spec.lowering import Layers


@dataclass(frozen=True)
class BlurPool(Primitive):
    """Blur pool: a fixed 3x3 binomial filter per channel, then keep every stride-th pixel (Zhang 2019)."""

    channels: int
    stride: int
    op_name = "blur_pool"

    def out_size(self, size: int) -> int:
        return (size - 1) // self.stride + 1  # kernel 3, padding 1

    def out_shape(self, shape: Shape) -> Shape:
        return Shape(shape.channels, self.out_size(shape.height), self.out_size(shape.width))

    def window(self) -> str:
        return f"kernel 3, padding 1, stride {self.stride}"

    def macs(self, out: Shape) -> int:
        return 0  # a fixed filter, not a weight: counted with the element ops, as pooling is

    def other_ops(self, out: Shape) -> int:
        return 9 * out.numel

    def kept(self, out: Shape) -> Kept:
        return Kept(saves_input=True)

    def receptive(self, size: int, jump: int) -> tuple[int, int]:
        return size + 2 * jump, jump * self.stride


def blur_conv_norm(layers: Layers, channels: int, stride: int, loc: tuple[str | int, ...]) -> None:
    """The shortcut kind: a blur pool where strided, then a bias-free 1x1 conv and norm."""
    if stride > 1:
        layers.add("blur", BlurPool(layers.channels, stride))
    layers.conv_norm_act("", channels, 1, padding=0, bias=False, act=False)
