"""The conv stem: one convolution, norm, activation and optional pooling (torchvision: 7x7/2 + max pool)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from archspec.spec.bounds import MAX_KERNEL, MAX_STRIDE
from archspec.spec.lowering import Layers
from archspec.spec.stems.base import PoolSpec, StemBase, add_pool


class ConvStemSpec(StemBase):
    kind: Literal["conv"] = Field(
        "conv", description="One convolution, norm, activation and optional pooling (torchvision: 7x7/2 + max pool)."
    )
    kernel_size: PositiveInt = Field(7, le=MAX_KERNEL, description="Stem convolution kernel size.")
    stride: PositiveInt = Field(2, le=MAX_STRIDE, description="Stem convolution stride.")
    padding: NonNegativeInt | None = Field(
        None,
        le=MAX_KERNEL,
        description="Stem convolution zero padding; null means kernel_size // 2 ('same' at stride 1).",
    )
    pool: PoolSpec | None = Field(None, description="Optional pooling after the activation; null for none.")

    @model_validator(mode="before")
    @classmethod
    def _default_padding(cls, data: Any) -> Any:
        # Resolve the default here so that the canonical form shows the number.
        if isinstance(data, dict) and data.get("padding") is None and isinstance(data.get("kernel_size", 7), int):
            return {**data, "padding": data.get("kernel_size", 7) // 2}
        return data

    @property
    def resolved_padding(self) -> int:
        return self.kernel_size // 2 if self.padding is None else self.padding

    def lower(self, layers: Layers) -> int:
        layers.conv_norm_act("", self.channels, self.kernel_size, self.stride, padding=self.resolved_padding,
                             loc=("stem", "kernel_size"))  # fmt: skip
        return add_pool(layers, self.pool, self.stride)
