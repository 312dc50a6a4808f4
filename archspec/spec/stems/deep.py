"""The deep stem: three 3x3 convolutions (ResNet-C/D, Bag of Tricks; timm's stem_type='deep')."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from archspec.spec.bounds import MAX_CHANNELS, MAX_STRIDE
from archspec.spec.lowering import Layers
from archspec.spec.stems.base import PoolSpec, StemBase, add_pool


class DeepStemSpec(StemBase):
    kind: Literal["deep"] = Field(
        description="Three 3x3 convolutions, the first strided, each with norm and activation, then optional "
        "pooling (ResNet-C/D, Bag of Tricks; timm's stem_type='deep')."
    )
    width: PositiveInt | None = Field(
        None, le=MAX_CHANNELS, description="Output channels of the first two convolutions; null means channels // 2."
    )
    stride: PositiveInt = Field(2, le=MAX_STRIDE, description="Stride of the first convolution.")
    pool: PoolSpec | None = Field(None, description="Optional pooling after the last activation; null for none.")

    @model_validator(mode="before")
    @classmethod
    def _default_width(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("width") is None and isinstance(data.get("channels"), int):
            return {**data, "width": max(1, data["channels"] // 2)}
        return data

    def lower(self, layers: Layers) -> int:
        # Bag of Tricks' ResNet-C: three 3x3 convs cost about as much as one 7x7 and see as far.
        assert self.width is not None  # resolved by the validator above
        for suffix, width, stride in (("1", self.width, self.stride), ("2", self.width, 1), ("3", self.channels, 1)):
            layers.conv_norm_act(suffix, width, 3, stride, loc=("stem", "stride"))
        return add_pool(layers, self.pool, self.stride)
