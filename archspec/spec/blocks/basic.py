"""The basic block: two 3x3 convolutions (ResNet-18/34, d2l's Residual)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archspec.spec.blocks.base import BlockBase
from archspec.spec.lowering import Layers, Position


class BasicBlockSpec(BlockBase):
    kind: Literal["basic"] = Field(description="Two 3x3 convolutions (ResNet-18/34, d2l's Residual).")

    def branch(self, layers: Layers, channels: int, at: Position) -> None:
        # (C, H, W) -> (channels, H/stride, W/stride)
        layers.conv_norm_act("1", channels, 3, at.stride, dilation=at.first_dilation)
        layers.conv_norm_act("2", channels, 3, dilation=at.dilation, act=False, zero_init=self.zero_init)
