"""The interface a spec kind lowers through: `Layers`, implemented by archspec.arch.plan.

A block, stem or shortcut kind describes its layers by calling these methods, in order; the arch layer
turns each call into a primitive with its shapes and costs. So a kind's module holds its schema and its
lowering without importing the arch layer (imports point one way: spec -> config only), and the torch
layer needs nothing kind-specific: it builds one module per primitive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from archspec.config.model import Loc


@dataclass(frozen=True)
class Position:
    """Where a block sits and what that implies: its stride, dilations and drop-path rate."""

    stage: int
    index: int
    stride: int
    first_dilation: int  # of the block's first 3x3 conv (the stage's previous dilation, as torchvision)
    dilation: int  # of any later 3x3 conv
    drop_path: float


class Layers(Protocol):
    """Appends layers to one sequence (a stem, a block's pre/main/shortcut/post part) while tracking its shape.

    Norm, activation and conv bias default to the settings of the kind being lowered (its `norm`,
    `norm_groups`, `activation`, `conv_bias`); `loc` names the field to blame if a shape cannot fit.
    """

    @property
    def channels(self) -> int:
        """Channels of the current output."""

    def conv(self, name: str, out_channels: int, kernel_size: int, stride: int = 1, *, padding: int | None = None,
             groups: int = 1, dilation: int = 1, bias: bool | None = None, zero_init: bool = False,
             loc: Loc | None = None) -> None:  # fmt: skip
        """A conv from the current width; padding defaults to dilation x (kernel_size // 2) ('same' at stride 1)."""

    def norm(self, name: str, zero_init: bool = False, channels_last: bool = False) -> None:
        """The kind's normalisation (nothing for norm: none); `channels_last` where the tensor is (N, H, W, C)
        between two `permute` calls (layer norm only)."""

    def linear(self, name: str, out_features: int, bias: bool | None = None, zero_init: bool = False) -> None:
        """A fully connected layer at every position of a channels-last tensor (a 1x1 conv's twin); bias
        defaults to the kind's conv bias."""

    def permute(self, name: str, channels_last: bool) -> None:
        """To channels-last (N, H, W, C), or back to channels-first: the tensor's layout, not its shape."""

    def layer_scale(self, name: str, init: float) -> None:
        """A learnable per-channel scale on the current width, starting at `init` (ConvNeXt's layer scale)."""

    def act(self, name: str) -> None:
        """The kind's activation (nothing for activation: none)."""

    def conv_norm_act(self, suffix: str, out_channels: int, kernel_size: int, stride: int = 1, *,
                      padding: int | None = None, groups: int = 1, dilation: int = 1, bias: bool | None = None,
                      act: bool = True, zero_init: bool = False, loc: Loc | None = None) -> None:  # fmt: skip
        """conv, norm, activation named conv<suffix>, norm<suffix>, act<suffix>; `zero_init` zeroes the norm,
        or the conv where there is no norm."""

    def pool(self, name: str, kind: str, kernel_size: int, stride: int, padding: int, ceil_mode: bool = False,
             loc: Loc | None = None) -> None:  # fmt: skip
        """Max or average pooling (ceil_mode keeps a last partial window, as ResNet-D's shortcut pool)."""

    def zero_pad(self, name: str, out_channels: int, stride: int) -> None:
        """Parameter-free: keep every stride-th pixel, append zero channels."""

    def add(self, name: str, op: Any, loc: Loc | None = None) -> None:
        """Append one primitive: an instance of a registered `archspec.arch.primitives.Primitive` subclass (a
        plugin's own layer, say; archspec/spec/kinds.py `register_primitive`)."""

    def squeeze_excite(self, name: str, hidden: int) -> None:
        """A squeeze-excite gate on the current width with `hidden` channels inside (the kind's activation)."""

    def fail(self, loc: Loc, message: str) -> NoReturn:
        """Refuse the spec, blaming the field at `loc`."""
