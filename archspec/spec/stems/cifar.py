"""The CIFAR stem: one 3x3 stride-1 convolution, norm and activation (He et al. 2016, CIFAR-10)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archspec.spec.lowering import Layers
from archspec.spec.stems.base import StemBase


class CifarStemSpec(StemBase):
    kind: Literal["cifar"] = Field(
        description="One 3x3 stride-1 convolution, norm and activation, no pooling (He et al. 2016, CIFAR-10)."
    )

    def lower(self, layers: Layers) -> int:
        layers.conv_norm_act("", self.channels, 3, loc=("stem",))
        return 1
