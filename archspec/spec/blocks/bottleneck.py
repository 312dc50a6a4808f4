"""The bottleneck block: 1x1 reduce, 3x3 (strided, grouped), 1x1 expand (ResNet-50 and deeper, ResNeXt,
Wide ResNet). `BottleneckFields` holds the width rules shared with the other bottleneck-shaped kinds."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt, model_validator

from archspec.config.model import fail
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
    group_width: PositiveInt | None = Field(
        None,
        le=MAX_CHANNELS,
        json_schema_extra={"since": 2},
        description="Channels per group of the 3x3 convolution (RegNet's group width, pycls's GROUP_W): the 3x3 "
        "conv has channels / expansion channels in groups of group_width. Null: `groups` and "
        "`width_per_group` say it; set either this or those.",
    )

    @model_validator(mode="after")
    def _one_way_to_group(self) -> BottleneckFields:
        if self.group_width is not None and (self.groups != 1 or self.width_per_group != 64):
            fail(("group_width",), f"set either group_width ({self.group_width}) or groups and width_per_group "
                 f"({self.groups}, {self.width_per_group}), not both; keep groups 1 and "
                 "width_per_group 64")  # fmt: skip
        return self

    def width(self, channels: int) -> int:
        """Channels of the 3x3 conv in a stage of `channels` output channels (exact when the spec is valid)."""
        return channels // self.expansion * self.width_per_group // 64 * self.groups

    def conv_groups(self, channels: int) -> int:
        """Groups of the 3x3 conv in a stage of `channels` output channels."""
        return self.groups if self.group_width is None else self.width(channels) // self.group_width

    def gate_after_3x3(self, layers: Layers, width_in: int) -> None:
        """The squeeze-excite gate after the 3x3 conv (RegNetY's place), where `squeeze_excite.position` says so."""
        se = self.squeeze_excite
        if se is not None and se.position == "after_3x3":
            layers.squeeze_excite("squeeze_excite", se.hidden(width_in if se.ratio_of == "input" else layers.channels))

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
        if self.group_width is not None and self.width(channels) % self.group_width:
            step = self.expansion * self.group_width
            below, above = channels // step * step, (channels // step + 1) * step
            nearest = f"{below} or {above}" if below else str(above)
            return (
                f"bottleneck width (channels / expansion = {self.width(channels)}) is not divisible by group_width "
                f"({self.group_width}); nearest valid channels: {nearest}"
            )
        return None

    @classmethod
    def width_divisor(cls, data: dict[str, Any]) -> int:
        expansion, per_group = data.get("expansion", 4), data.get("width_per_group", 64)
        group_width = data.get("group_width") or 1
        if all(isinstance(n, int) and n > 0 for n in (expansion, per_group, group_width)):
            return int(expansion * 64 // math.gcd(64, per_group) * group_width)
        return 1


class BottleneckBlockSpec(BottleneckFields):
    kind: Literal["bottleneck"] = Field(description="1x1 reduce, 3x3 (strided), 1x1 expand (ResNet-50 and deeper).")

    gates_after_3x3: ClassVar[bool] = True

    def branch(self, layers: Layers, channels: int, at: Position) -> None:
        # Stride on the 3x3 conv, as torchvision's "ResNet v1.5".
        width, width_in = self.width(channels), layers.channels
        layers.conv_norm_act("1", width, 1)
        layers.conv_norm_act("2", width, 3, at.stride, groups=self.conv_groups(channels), dilation=at.first_dilation)
        self.gate_after_3x3(layers, width_in)
        layers.conv_norm_act("3", channels, 1, act=False, zero_init=self.zero_init)
