"""The original ResNet v1 bottleneck (He et al. 2015; Caffe, MXNet, timm's `resnet50` before v1.5): the
stride sits on the first 1x1 conv instead of the 3x3. It sees a quarter of the pixels a v1.5 block's 3x3
sees at a stage start, so it is cheaper and about 0.5 points less accurate on ImageNet.

The example of docs/writing-variants.md: a new block kind is this one module plus one line in
archspec/spec/blocks/__init__.py.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from archspec.spec.blocks.bottleneck import BottleneckFields
from archspec.spec.lowering import Layers, Position


class BottleneckV1BlockSpec(BottleneckFields):
    kind: Literal["bottleneck_v1"] = Field(
        description="1x1 reduce (strided), 3x3, 1x1 expand: the original ResNet v1 bottleneck (He et al. 2015), "
        "whose stride sits on the first 1x1 conv rather than on the 3x3 as in torchvision's v1.5."
    )

    gates_after_3x3: ClassVar[bool] = True

    def branch(self, layers: Layers, channels: int, at: Position) -> None:
        width, width_in = self.width(channels), layers.channels
        layers.conv_norm_act("1", width, 1, at.stride)
        layers.conv_norm_act("2", width, 3, groups=self.conv_groups(channels), dilation=at.first_dilation)
        self.gate_after_3x3(layers, width_in)
        layers.conv_norm_act("3", channels, 1, act=False, zero_init=self.zero_init)
