"""Shortcut kinds: how a residual block's shortcut projects its input when the shape changes.

Each kind is one projection function, registered in PROJECTIONS; the `kind` Literal is derived from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from pydantic import Field

from archspec.config.model import Model
from archspec.spec.lowering import Layers

ShortcutKind = Literal["conv_norm", "conv", "avg_conv_norm", "zero_pad"]


class ShortcutSpec(Model):
    kind: ShortcutKind = Field(
        "conv_norm",
        description="Projection used when a shortcut projects: 'conv_norm' is a bias-free strided 1x1 conv "
        "then norm (torchvision); 'conv' is a strided 1x1 conv with bias and no norm (d2l); "
        "'avg_conv_norm' is a 2x2 average pool (only when strided), then a bias-free 1x1 conv and norm "
        "(ResNet-D); 'zero_pad' is parameter-free: subsample by the stride and pad the new channels with "
        "zeros (He et al. 2016, CIFAR option A). In a preact block the projection reads the already "
        "normalised input, so the kinds with a norm drop it (timm's ResNetV2).",
    )
    when: Literal["shape_change", "stage_start"] = Field(
        "shape_change",
        description="When to project: 'shape_change' only where channels or resolution change (torchvision); "
        "'stage_start' at the first block of every stage but the first (d2l's first_block), "
        "and wherever the shape changes.",
    )

    def project(self, layers: Layers, channels: int, stride: int, loc: tuple[str | int, ...]) -> None:
        """Append the projection to `channels` at `stride` (`layers` normalises as the block does)."""
        PROJECTIONS[self.kind](layers, channels, stride, loc)


def _conv(layers: Layers, channels: int, stride: int, loc: tuple[str | int, ...]) -> None:
    layers.conv("conv", channels, 1, stride, padding=0, bias=True)  # d2l's conv3: a biased 1x1 conv, no norm


def _conv_norm(layers: Layers, channels: int, stride: int, loc: tuple[str | int, ...]) -> None:
    layers.conv_norm_act("", channels, 1, stride, padding=0, bias=False, act=False)


def _avg_conv_norm(layers: Layers, channels: int, stride: int, loc: tuple[str | int, ...]) -> None:
    if stride > 1:  # ResNet-D: average the pixels a strided 1x1 conv would skip
        layers.pool("pool", "avg", stride, stride, 0, ceil_mode=True)
    layers.conv_norm_act("", channels, 1, padding=0, bias=False, act=False)


def _zero_pad(layers: Layers, channels: int, stride: int, loc: tuple[str | int, ...]) -> None:
    if layers.channels > channels:
        layers.fail(loc, f"a zero_pad shortcut cannot reduce channels ({layers.channels} -> {channels}); "
                    "use conv_norm, or keep channels from growing smaller")  # fmt: skip
    if layers.channels != channels or stride > 1:
        layers.zero_pad("pad", channels, stride)


PROJECTIONS: dict[str, Callable[[Layers, int, int, tuple[str | int, ...]], None]] = {
    "conv_norm": _conv_norm,
    "conv": _conv,
    "avg_conv_norm": _avg_conv_norm,
    "zero_pad": _zero_pad,
}
assert set(PROJECTIONS) == set(get_args(ShortcutKind))
