"""The bottleneck block: 1x1 reduce, 3x3 (strided, grouped), 1x1 expand (ResNet-50 and deeper, ResNeXt,
Wide ResNet). `BottleneckFields` holds the width rules shared with the other bottleneck-shaped kinds."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, PositiveInt

from archspec.spec.blocks.base import BlockBase
from archspec.spec.bounds import MAX_CHANNELS, MAX_EXPANSION
from archspec.spec.lowering import Layers, Position


class BottleneckFields(BlockBase):
    expansion: PositiveInt = Field(
        4, le=MAX_EXPANSION, description="Stage channels divided by the block's base width; torchvision uses 4."
    )
    groups: PositiveInt = Field(
        1, le=MAX_CHANNELS, description="Groups of the 3x3 convolution (ResNeXt's cardinality)."
    )
    width_per_group: PositiveInt = Field(
        64,
        le=MAX_CHANNELS,
        description="Bottleneck width as in torchvision: the 3x3 conv has (channels / expansion) x "
        "width_per_group / 64 channels per group, times groups. 64 with groups 1 is ResNet; groups 32 "
        "with 4 is ResNeXt 32x4d; 128 with groups 1 is Wide ResNet-2.",
    )

    def width(self, channels: int) -> int:
        """Channels of the 3x3 conv in a stage of `channels` output channels (exact when the spec is valid)."""
        return channels // self.expansion * self.width_per_group // 64 * self.groups

    def width_error(self, channels: int) -> str | None:
        """Why `channels` does not suit this bottleneck, or None."""
        if channels % self.expansion:
            return f"bottleneck needs channels divisible by expansion ({self.expansion}), got {channels}"
        if channels // self.expansion * self.width_per_group % 64:
            return (
                f"bottleneck width per group (channels / expansion x width_per_group / 64 = {channels} / "
                f"{self.expansion} x {self.width_per_group} / 64) is not a whole number; change channels or "
                "width_per_group"
            )
        return None

    @classmethod
    def width_divisor(cls, data: dict[str, Any]) -> int:
        expansion, per_group = data.get("expansion", 4), data.get("width_per_group", 64)
        if isinstance(expansion, int) and isinstance(per_group, int) and expansion > 0 and per_group > 0:
            return expansion * 64 // math.gcd(64, per_group)
        return 1


class BottleneckBlockSpec(BottleneckFields):
    kind: Literal["bottleneck"] = Field(description="1x1 reduce, 3x3 (strided), 1x1 expand (ResNet-50 and deeper).")

    def branch(self, layers: Layers, channels: int, at: Position) -> None:
        # Stride on the 3x3 conv, as torchvision's "ResNet v1.5".
        width = self.width(channels)
        layers.conv_norm_act("1", width, 1)
        layers.conv_norm_act("2", width, 3, at.stride, groups=self.groups, dilation=at.first_dilation)
        layers.conv_norm_act("3", channels, 1, act=False, zero_init=self.zero_init)
