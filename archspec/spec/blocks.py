"""Block settings of a spec: block kinds, shortcut kinds and per-block options. No torch import.

Split from schema.py because the block family is the part of the schema that grows; the
spec-level models (input, stem, stages, head) stay there and re-export these names.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt

from archspec.config.model import Model

Activation = Literal["relu", "silu", "gelu"]
NormKind = Literal["batch", "group", "none"]


class ShortcutSpec(Model):
    kind: Literal["conv_norm", "conv", "avg_conv_norm", "zero_pad"] = Field(
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


class SqueezeExciteSpec(Model):
    ratio: float = Field(
        0.0625,
        gt=0.0,
        le=1.0,
        description="Hidden width of the squeeze-excitation gate as a fraction of the block's output channels "
        "(timm's rd_ratio; 1/16 in Hu et al. 2018).",
    )
    divisor: PositiveInt = Field(
        8,
        description="The hidden width is channels x ratio rounded to the nearest multiple of this, and at "
        "least this (timm's make_divisible).",
    )

    def hidden(self, channels: int) -> int:
        """Hidden width of the gate for a block of `channels` output channels."""
        return max(self.divisor, int(channels * self.ratio + self.divisor / 2) // self.divisor * self.divisor)


class BlockBase(Model):
    conv_bias: bool = Field(False, description="Give the block's convolutions a bias (d2l does; torchvision does not).")
    norm: NormKind = Field(
        "batch", description="Normalisation after each convolution of the residual branch: batch, group or none."
    )
    norm_groups: PositiveInt = Field(
        32, description="Groups of group normalisation (norm: group); every normalised width must divide by it."
    )
    activation: Activation = Field("relu", description="Activation inside the branch and after the addition.")
    shortcut: ShortcutSpec = Field(
        default_factory=ShortcutSpec, description="How the shortcut projects the input when it must."
    )
    squeeze_excite: SqueezeExciteSpec | None = Field(
        None,
        description="Squeeze-and-excitation gate on the residual branch, before the addition (Hu et al. 2018); "
        "null for none.",
    )
    drop_path: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Stochastic depth: the rate of dropping the residual branch reached at the network's last "
        "block; block i of N (counted over all stages) uses drop_path x i / (N - 1) (Huang et al. 2016).",
    )
    zero_init: bool = Field(
        False,
        description="Initialise the last norm of the residual branch (its last conv where it has no norm after "
        "it) to zero, so that each block starts as its shortcut (Goyal et al. 2017).",
    )


class BasicBlockSpec(BlockBase):
    kind: Literal["basic"] = Field(description="Two 3x3 convolutions (ResNet-18/34, d2l's Residual).")


class BottleneckFields(BlockBase):
    expansion: PositiveInt = Field(
        4, description="Stage channels divided by the block's base width; torchvision uses 4."
    )
    groups: PositiveInt = Field(1, description="Groups of the 3x3 convolution (ResNeXt's cardinality).")
    width_per_group: PositiveInt = Field(
        64,
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


class BottleneckBlockSpec(BottleneckFields):
    kind: Literal["bottleneck"] = Field(description="1x1 reduce, 3x3 (strided), 1x1 expand (ResNet-50 and deeper).")


class PreactBlockSpec(BottleneckFields):
    kind: Literal["preact"] = Field(
        description="Pre-activation bottleneck (ResNet v2, He et al. 2016): norm and activation before each "
        "conv, nothing after the addition; the network gets a final norm and activation before the head."
    )


BlockSpec = Annotated[BasicBlockSpec | BottleneckBlockSpec | PreactBlockSpec, Field(discriminator="kind")]
BLOCK_KINDS: tuple[str, ...] = ("basic", "bottleneck", "preact")
AnyBlockSpec = BasicBlockSpec | BottleneckBlockSpec | PreactBlockSpec
