"""The patchify stem: one k x k convolution of stride k, cutting the image into non-overlapping patches, then a
norm (ConvNeXt, Liu et al. 2022: 4x4 stride 4 and a layer norm; the "patchify" step of its roadmap)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from archspec.spec.blocks.base import NormKind
from archspec.spec.bounds import MAX_KERNEL
from archspec.spec.lowering import Layers
from archspec.spec.stems.base import StemActivation, StemBase


class PatchifyStemSpec(StemBase):
    kind: Literal["patchify"] = Field(
        description="One patch_size x patch_size convolution of stride patch_size (non-overlapping patches), then "
        "norm and activation, no pooling (ConvNeXt's 4x4 stride-4 stem with a layer norm)."
    )
    patch_size: PositiveInt = Field(
        4, le=MAX_KERNEL, description="Side of each patch: the convolution's kernel size and stride (ConvNeXt: 4)."
    )
    # ConvNeXt's own stem: a conv with a bias, a layer norm, no activation
    conv_bias: bool = Field(True, description="Give the patchify convolution a bias (ConvNeXt's has one).")
    norm: NormKind = Field(
        "layer", description="Normalisation after the patchify convolution: layer (ConvNeXt), batch, group or none."
    )
    activation: StemActivation = Field("none", description="Activation after the norm; ConvNeXt's stem has none.")

    def lower(self, layers: Layers) -> int:
        # (C, H, W) -> (channels, H / patch_size, W / patch_size)
        layers.conv_norm_act("", self.channels, self.patch_size, self.patch_size, padding=0,
                             loc=("stem", "patch_size"))  # fmt: skip
        return self.patch_size
