"""The ECA gate as an archspec primitive, and the block kinds that end their branch with it. No torch here.

ECA (Wang et al. 2020, "ECA-Net: Efficient Channel Attention"): average each channel over the feature
map, run a 1D convolution of k taps (no bias) across the channel vector, take the sigmoid and scale each
channel by it. k adapts to the width: the odd number nearest |(log2 C + b) / gamma| (gamma 2, b 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from archspec.arch.primitives import FP32_BYTES, Kept, Primitive, Shape
from archspec.config.model import Model, fail
from archspec.spec.blocks.base import BlockBase
from archspec.spec.blocks.bottleneck import BottleneckFields
from archspec.spec.lowering import Layers, Position


@dataclass(frozen=True)
class EcaGate(Primitive):
    """ECA channel gate: x * sigmoid(conv1d_k(avgpool(x))) across channels (Wang et al. 2020)."""

    channels: int
    kernel_size: int
    op_name = "eca_gate"

    @property
    def params(self) -> int:  # type: ignore[override]
        return self.kernel_size  # one 1D kernel shared by every channel, no bias

    def macs(self, out: Shape) -> int:
        return self.kernel_size * self.channels  # k taps at each of the C positions of the pooled vector

    def other_ops(self, out: Shape) -> int:
        return 2 * out.numel + self.channels  # the average, the gating product, the sigmoid

    def kept(self, out: Shape) -> Kept:
        # the input (for the product), the pooled vector (the conv's input) and the sigmoid gate
        return Kept(saves_input=True, bytes_per_sample=2 * self.channels * FP32_BYTES)

    def torchinfo_mult_adds(self, out: Shape) -> int:
        return self.params * self.channels  # torchinfo counts a Conv1d's weights at each of its C positions


class EcaSpec(Model):
    gamma: PositiveInt = Field(2, le=16, description="gamma of the adaptive kernel size (2 in the paper).")
    beta: NonNegativeInt = Field(1, le=16, description="b of the adaptive kernel size (1 in the paper).")
    kernel_size: PositiveInt | None = Field(
        None, le=31, description="Taps of the 1D convolution across channels (odd); null adapts it to the width."
    )

    @model_validator(mode="after")
    def _odd(self) -> EcaSpec:
        if self.kernel_size is not None and self.kernel_size % 2 == 0:
            fail(("kernel_size",), f"must be odd (the gate pads it symmetrically), got {self.kernel_size}")
        return self

    def kernel(self, channels: int) -> int:
        """k for a gate over `channels` channels."""
        if self.kernel_size is not None:
            return self.kernel_size
        taps = int(abs((math.log2(channels) + self.beta) / self.gamma))
        return taps if taps % 2 else taps + 1


class EcaBasicBlockSpec(BlockBase):
    kind: Literal["eca_basic"] = Field(
        description="A basic block (two 3x3 convolutions) whose branch ends with an ECA channel gate "
        "(Wang et al. 2020), from the archspec-eca plugin."
    )
    eca: EcaSpec = Field(default_factory=EcaSpec, description="The ECA gate after the branch's last norm.")

    def branch(self, layers: Layers, channels: int, at: Position) -> None:
        layers.conv_norm_act("1", channels, 3, at.stride, dilation=at.first_dilation)
        layers.conv_norm_act("2", channels, 3, dilation=at.dilation, act=False, zero_init=self.zero_init)
        layers.add("eca", EcaGate(channels, self.eca.kernel(channels)))


class EcaBottleneckBlockSpec(BottleneckFields):
    kind: Literal["eca_bottleneck"] = Field(
        description="A bottleneck (1x1, strided 3x3, 1x1) whose branch ends with an ECA channel gate "
        "(ECA-ResNet-50, Wang et al. 2020), from the archspec-eca plugin."
    )
    eca: EcaSpec = Field(default_factory=EcaSpec, description="The ECA gate after the branch's last norm.")

    def branch(self, layers: Layers, channels: int, at: Position) -> None:
        width = self.width(channels)
        layers.conv_norm_act("1", width, 1)
        layers.conv_norm_act("2", width, 3, at.stride, groups=self.groups, dilation=at.first_dilation)
        layers.conv_norm_act("3", channels, 1, act=False, zero_init=self.zero_init)
        layers.add("eca", EcaGate(channels, self.eca.kernel(channels)))
