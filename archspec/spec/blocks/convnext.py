"""The ConvNeXt block (Liu et al. 2022, "A ConvNet for the 2020s"): a 7x7 depthwise conv, one layer norm, a 1x1
expansion to 4x the width, GELU, a 1x1 projection back, a per-channel layer scale, drop path; identity shortcut.

Its fields also express the steps of the paper's roadmap between a ResNet bottleneck and this block (figure 2:
"move up depthwise conv", "large kernel", then the micro design): `norms: every` and `activations: every` keep a
norm after each conv and an activation after each norm and the addition, as a ResNet does; `norm: batch` with
`channels_last: false` keeps batch norm; a stage without a `downsample` layer strides the depthwise conv and
projects the shortcut, as a ResNet's first block does.

`channels_last` picks the form of the same function: true, the norm and the two 1x1 layers run on a (N, H, W, C)
tensor as `nn.LayerNorm` and `nn.Linear` between two permutes (torchvision's CNBlock, timm's default); false, as
a channels-first layer norm and two 1x1 convs (timm's `conv_mlp=True`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from archspec.config.model import fail
from archspec.spec.blocks.base import Activation, BlockBase, NormKind
from archspec.spec.bounds import MAX_CHANNELS, MAX_EXPANSION, MAX_KERNEL
from archspec.spec.lowering import Layers, Position


class ConvNeXtBlockSpec(BlockBase):
    kind: Literal["convnext"] = Field(
        description="Depthwise k x k conv, norm, 1x1 expand (mlp_ratio), activation, 1x1 project, layer scale, drop "
        "path; identity shortcut (ConvNeXt, Liu et al. 2022)."
    )
    kernel_size: PositiveInt = Field(
        7, le=MAX_KERNEL, description="Kernel size of the depthwise conv (ConvNeXt: 7; 3 before its 'large kernel')."
    )
    depthwise: Literal["first", "middle"] = Field(
        "first",
        description="Where the depthwise conv sits: 'first', before the 1x1 layers (ConvNeXt's 'move up "
        "depthwise conv'); 'middle', between them, on the hidden width (MobileNetV2's inverted bottleneck, the "
        "roadmap's step before; needs norms, activations: every and channels_last: false).",
    )
    mlp_ratio: PositiveInt = Field(
        4,
        le=MAX_EXPANSION,
        description="Width of the two 1x1 layers' hidden side as a multiple of the stage's channels (the inverted "
        "bottleneck: 4).",
    )
    norms: Literal["one", "every"] = Field(
        "one",
        description="'one': a single norm, after the depthwise conv (ConvNeXt's 'fewer norms'); 'every': a norm "
        "after each of the three convs, as a ResNet block.",
    )
    activations: Literal["one", "every"] = Field(
        "one",
        description="'one': a single activation, between the two 1x1 layers (ConvNeXt's 'fewer activations'); "
        "'every': after each norm but the last, and after the addition, as a ResNet block.",
    )
    channels_last: bool = Field(
        True,
        description="Run the norm and the 1x1 layers on a channels-last tensor as nn.LayerNorm and nn.Linear "
        "(torchvision's CNBlock, timm's default); false: a channels-first norm and 1x1 convs (timm's conv_mlp). "
        "The same function; true needs norm: layer or none.",
    )
    layer_scale: float | None = Field(
        1e-6,
        gt=0.0,
        le=1e6,
        description="Initial value of the learnable per-channel scale on the residual branch (CaiT's layer scale; "
        "ConvNeXt: 1e-6); null for none.",
    )
    # ConvNeXt's own settings: every conv and linear layer has a bias, layer norm, GELU
    conv_bias: bool = Field(True, description="Give the block's convs and linear layers a bias (ConvNeXt does).")
    norm: NormKind = Field(
        "layer",
        description="Normalisation in the block: layer (over the channels at each position, eps 1e-6; ConvNeXt), "
        "batch, group or none.",
    )
    activation: Activation = Field("gelu", description="Activation of the block (ConvNeXt: GELU).")

    @model_validator(mode="after")
    def _settings_fit(self) -> ConvNeXtBlockSpec:
        if self.kernel_size % 2 == 0:
            fail(("kernel_size",), f"must be odd, so that padding kernel_size // 2 keeps the feature map's size; got "
                 f"{self.kernel_size}, use {self.kernel_size - 1} or {self.kernel_size + 1}")  # fmt: skip
        if self.channels_last and self.norm in ("batch", "group"):
            fail(("channels_last",), f"a channels-last block normalises with layer norm, not {self.norm} norm; set "
                 "channels_last: false, or norm: layer")  # fmt: skip
        resnet_like = self.norms == "every" and self.activations == "every" and not self.channels_last
        if self.depthwise == "middle" and not resnet_like:
            fail(("depthwise",), "middle is the inverted bottleneck with a norm and an activation after every conv, "
                 "channels-first; set norms: every, activations: every and channels_last: false, or depthwise: "
                 "first")  # fmt: skip
        if self.layer_scale is not None and self.zero_init:
            fail(("layer_scale",), "with zero_init the branch already starts at zero and the layer scale would "
                 "learn nothing at first; set layer_scale: null or zero_init: false")  # fmt: skip
        return self

    def width_error(self, channels: int) -> str | None:
        if channels * self.mlp_ratio > MAX_CHANNELS:
            return (f"the 1x1 layers' hidden width (channels x mlp_ratio = {channels} x {self.mlp_ratio}) is over "
                    f"{MAX_CHANNELS:,}; lower channels or mlp_ratio")  # fmt: skip
        return None

    def branch(self, layers: Layers, channels: int, at: Position) -> None:
        # (C_in, H, W) -> (channels, H/stride, W/stride); the depthwise conv strides where no downsampling layer did
        every_norm, every_act = self.norms == "every", self.activations == "every"
        width_in, hidden = layers.channels, channels * self.mlp_ratio
        if self.depthwise == "middle":  # 1x1 expand, depthwise (strided), 1x1 project; a norm and act after each
            layers.conv_norm_act("1", hidden, 1)
            layers.conv_norm_act("2", hidden, self.kernel_size, at.stride, groups=hidden, dilation=at.first_dilation)
            layers.conv_norm_act("3", channels, 1, act=False, zero_init=self.zero_init)
            if self.layer_scale is not None:
                layers.layer_scale("layer_scale", self.layer_scale)
            return
        layers.conv("conv1", width_in, self.kernel_size, at.stride, groups=width_in, dilation=at.first_dilation)
        last = self.channels_last
        if last:
            layers.permute("to_channels_last", True)  # (H, W, C_in)
        layers.norm("1", channels_last=last)
        if every_act:
            layers.act("1")
        if last:
            layers.linear("fc1", hidden)
        else:
            layers.conv("conv2", hidden, 1)
        if every_norm:
            layers.norm("2", channels_last=last)
        layers.act("2")
        zero_last = self.zero_init and (not every_norm or self.norm == "none")  # no norm after it to zero
        if last:
            layers.linear("fc2", channels, zero_init=zero_last)
        else:
            layers.conv("conv3", channels, 1, zero_init=zero_last)
        if every_norm:
            layers.norm("3", zero_init=self.zero_init, channels_last=last)
        if last:
            layers.permute("to_channels_first", False)  # (channels, H, W)
        if self.layer_scale is not None:
            layers.layer_scale("layer_scale", self.layer_scale)

    def post(self, layers: Layers) -> None:
        if self.activations == "every":  # a ResNet's activation after the addition; ConvNeXt has none
            layers.act("")
