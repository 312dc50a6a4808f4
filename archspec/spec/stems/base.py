"""What every stem kind shares: its settings, the optional pooling after it, and its lowering interface.

A stem kind is one module in this package, registered in `archspec/spec/stems/__init__.py`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from archspec.config.model import Model, fail
from archspec.spec import kinds
from archspec.spec.blocks.base import NormKind
from archspec.spec.bounds import MAX_CHANNELS, MAX_KERNEL, MAX_STRIDE
from archspec.spec.lowering import Layers

StemActivation = Literal["relu", "silu", "gelu", "none"]


class PoolSpec(Model):
    kind: Literal["max", "avg"] = Field("max", description="Pooling operation after the stem.")
    kernel_size: PositiveInt = Field(3, le=MAX_KERNEL, description="Pooling window size.")
    stride: PositiveInt = Field(2, le=MAX_STRIDE, description="Pooling stride.")
    padding: NonNegativeInt = Field(1, le=MAX_KERNEL, description="Zero padding on each side of the pooling input.")

    @model_validator(mode="after")
    def _padding_fits(self) -> PoolSpec:
        if 2 * self.padding > self.kernel_size:
            fail(("padding",), f"must be at most half the kernel size ({self.kernel_size // 2}), got {self.padding}")
        return self


class StemBase(Model):
    channels: PositiveInt = Field(le=MAX_CHANNELS, description="Output channels of the stem.")
    conv_bias: bool = Field(False, description="Give the stem convolutions a bias (useless before batch norm).")
    norm: NormKind = Field(
        "batch",
        description="Normalisation after each stem convolution: batch, group, layer (over the channels at each "
        "position, eps 1e-6: ConvNeXt's) or none.",
    )
    norm_groups: PositiveInt = Field(32, le=MAX_CHANNELS, description="Groups of group normalisation (norm: group).")
    activation: StemActivation = Field(
        "relu", description="Activation after each stem normalisation; 'none' for a preact network's bare stem."
    )

    def lower(self, layers: Layers) -> int:
        """Append the stem's layers; returns its total stride."""
        raise NotImplementedError(f"stem kind {type(self).__name__} has no lowering")


def add_pool(layers: Layers, pool: PoolSpec | None, stride: int) -> int:
    """The optional pooling after a stem; returns the stem's stride including it."""
    if pool is None:
        return stride
    layers.pool("pool", pool.kind, pool.kernel_size, pool.stride, pool.padding, loc=("stem", "pool"))
    return stride * pool.stride


kinds.BASES["stem"] = StemBase  # what a stem kind must subclass (archspec.spec.kinds.register_stem)
