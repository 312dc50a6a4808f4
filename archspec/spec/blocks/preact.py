"""The pre-activation bottleneck (ResNet v2, He et al. 2016, "Identity Mappings")."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from archspec.spec.blocks.bottleneck import BottleneckFields
from archspec.spec.lowering import Layers, Position


class PreactBlockSpec(BottleneckFields):
    kind: Literal["preact"] = Field(
        description="Pre-activation bottleneck (ResNet v2, He et al. 2016): norm and activation before each "
        "conv, nothing after the addition; the network gets a final norm and activation before the head."
    )

    final_norm: ClassVar[bool] = True
    shortcut_norm: ClassVar[bool] = False  # timm's ResNetV2 DownsampleConv(preact=True)

    def pre(self, layers: Layers) -> None:
        # norm and activation before the branch; a projecting shortcut reads this too (timm's ResNetV2)
        layers.norm("1")
        layers.act("1")

    def branch(self, layers: Layers, channels: int, at: Position) -> None:
        width = self.width(channels)
        layers.conv("conv1", width, 1)
        layers.norm("2")
        layers.act("2")
        layers.conv("conv2", width, 3, at.stride, groups=self.conv_groups(channels), dilation=at.first_dilation)
        layers.norm("3")
        layers.act("3")
        layers.conv("conv3", channels, 1, zero_init=self.zero_init)

    def post(self, layers: Layers) -> None:
        """Nothing after the addition: the next block (or the head) normalises."""
