"""Pydantic models of a ResNet spec. No torch import: validating a spec is fast.

Conventions: every model forbids unknown keys and is frozen; every field has a
description (the JSON Schema and docs read it); cross-field rules raise through
`fail(loc, message)` so the error points at the offending field. The block family
(block kinds, shortcuts, per-block options) lives in spec/blocks.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)

from archspec.config.merge import overlay
from archspec.config.model import Loc, Model, fail
from archspec.spec.blocks import (
    BLOCK_KINDS,
    Activation,
    AnyBlockSpec,
    BasicBlockSpec,
    BlockSpec,
    BottleneckBlockSpec,
    BottleneckFields,
    NormKind,
    PreactBlockSpec,
    ShortcutSpec,
    SqueezeExciteSpec,
)

StemActivation = Literal["relu", "silu", "gelu", "none"]

__all__ = [
    "BLOCK_KINDS",
    "STEM_KINDS",
    "Activation",
    "AnyBlockSpec",
    "BasicBlockSpec",
    "BlockSpec",
    "BottleneckBlockSpec",
    "BottleneckFields",
    "CifarStemSpec",
    "ConvStemSpec",
    "DeepStemSpec",
    "HeadSpec",
    "InputSpec",
    "Loc",
    "NormKind",
    "PoolSpec",
    "PreactBlockSpec",
    "ResNetSpec",
    "ShortcutSpec",
    "SqueezeExciteSpec",
    "StageSpec",
    "StemSpec",
    "fail",
    "json_schema",
]


class InputSpec(Model):
    channels: PositiveInt = Field(description="Input image channels (1 for Fashion-MNIST, 3 for RGB).")
    height: PositiveInt = Field(description="Input image height in pixels.")
    width: PositiveInt = Field(description="Input image width in pixels.")


class PoolSpec(Model):
    kind: Literal["max", "avg"] = Field("max", description="Pooling operation after the stem.")
    kernel_size: PositiveInt = Field(3, description="Pooling window size.")
    stride: PositiveInt = Field(2, description="Pooling stride.")
    padding: NonNegativeInt = Field(1, description="Zero padding on each side of the pooling input.")

    @model_validator(mode="after")
    def _padding_fits(self) -> PoolSpec:
        if 2 * self.padding > self.kernel_size:
            fail(("padding",), f"must be at most half the kernel size ({self.kernel_size // 2}), got {self.padding}")
        return self


class StemBase(Model):
    channels: PositiveInt = Field(description="Output channels of the stem.")
    conv_bias: bool = Field(False, description="Give the stem convolutions a bias (useless before batch norm).")
    norm: NormKind = Field("batch", description="Normalisation after each stem convolution: batch, group or none.")
    norm_groups: PositiveInt = Field(32, description="Groups of group normalisation (norm: group).")
    activation: StemActivation = Field(
        "relu", description="Activation after each stem normalisation; 'none' for a preact network's bare stem."
    )


class ConvStemSpec(StemBase):
    kind: Literal["conv"] = Field(
        "conv", description="One convolution, norm, activation and optional pooling (torchvision: 7x7/2 + max pool)."
    )
    kernel_size: PositiveInt = Field(7, description="Stem convolution kernel size.")
    stride: PositiveInt = Field(2, description="Stem convolution stride.")
    padding: NonNegativeInt | None = Field(
        None, description="Stem convolution zero padding; null means kernel_size // 2 ('same' at stride 1)."
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


class DeepStemSpec(StemBase):
    kind: Literal["deep"] = Field(
        description="Three 3x3 convolutions, the first strided, each with norm and activation, then optional "
        "pooling (ResNet-C/D, Bag of Tricks; timm's stem_type='deep')."
    )
    width: PositiveInt | None = Field(
        None, description="Output channels of the first two convolutions; null means channels // 2."
    )
    stride: PositiveInt = Field(2, description="Stride of the first convolution.")
    pool: PoolSpec | None = Field(None, description="Optional pooling after the last activation; null for none.")

    @model_validator(mode="before")
    @classmethod
    def _default_width(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("width") is None and isinstance(data.get("channels"), int):
            return {**data, "width": max(1, data["channels"] // 2)}
        return data


class CifarStemSpec(StemBase):
    kind: Literal["cifar"] = Field(
        description="One 3x3 stride-1 convolution, norm and activation, no pooling (He et al. 2016, CIFAR-10)."
    )


StemSpec = Annotated[ConvStemSpec | DeepStemSpec | CifarStemSpec, Field(discriminator="kind")]
STEM_KINDS: tuple[str, ...] = ("conv", "deep", "cifar")


class StageSpec(Model):
    channels: PositiveInt = Field(description="Output channels of every block in the stage.")
    blocks: PositiveInt = Field(description="Number of residual blocks in the stage.")
    stride: Literal[1, 2] = Field(1, description="Stride of the stage's first block (2 halves the resolution).")
    block: BlockSpec = Field(
        description="Block settings of this stage: the spec's `block`, with this stage's overrides on top."
    )

    @model_validator(mode="after")
    def _bottleneck_divides(self) -> StageSpec:
        if isinstance(self.block, BottleneckFields):
            problem = self.block.width_error(self.channels)
            if problem:
                fail(("channels",), problem)
        return self


class HeadSpec(Model):
    pool: Literal["avg", "max"] = Field("avg", description="Global pooling over the last feature map.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout probability before the classifier.")
    num_classes: PositiveInt = Field(description="Number of output classes (logits).")


class ResNetSpec(Model):
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100, description="Short identifier of the variant."
    )
    description: str = Field("", description="Free text shown by `archspec list`.")
    input: InputSpec = Field(description="Shape of one input image.")
    stem: StemSpec = Field(
        description="The stem: convolution(s), norm, activation and optional pooling; `kind` defaults to conv."
    )
    block: BlockSpec = Field(description="Default block settings for every stage.")
    stages: list[StageSpec] = Field(min_length=1, max_length=64, description="Residual stages, in order.")
    output_stride: PositiveInt | None = Field(
        None,
        description="Largest total stride of the network (8 or 16 for segmentation); a strided stage that would "
        "pass it keeps the resolution and dilates its 3x3 convolutions instead (DeepLab; torchvision's "
        "replace_stride_with_dilation). A power of two; null for no limit.",
    )
    head: HeadSpec = Field(description="Classifier head: global pooling, dropout and a linear layer.")

    @model_validator(mode="before")
    @classmethod
    def _inherit_block(cls, data: Any) -> Any:
        """Give each stage the spec's block settings, with the stage's own keys on top.

        A stage whose override names a different block kind starts from that kind's
        defaults instead (fields of one kind do not carry over to another).
        """
        if isinstance(data, dict) and isinstance(data.get("stem"), dict) and "kind" not in data["stem"]:
            data = {**data, "stem": {"kind": "conv", **data["stem"]}}
        if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
            return data
        default = data.get("block")
        if isinstance(default, BaseModel):
            default = default.model_dump()
        if not isinstance(default, dict):
            return data
        stages = []
        for stage in data["stages"]:
            if isinstance(stage, BaseModel):
                stage = stage.model_dump()
            if isinstance(stage, dict):
                override = stage.get("block", {})
                if isinstance(override, BaseModel):
                    override = override.model_dump()
                if isinstance(override, dict):  # the one kind-switch rule: another kind starts afresh
                    stage = {**stage, "block": overlay(default, override)}
            stages.append(stage)
        return {**data, "stages": stages}

    @model_validator(mode="after")
    def _output_stride_power_of_two(self) -> ResNetSpec:
        # Shapes are checked by lowering (archspec.arch.plan), the one place that owns shape arithmetic.
        if self.output_stride is not None and self.output_stride & (self.output_stride - 1):
            fail(("output_stride",), f"must be a power of two (8, 16, 32), got {self.output_stride}")
        return self


def json_schema() -> dict[str, Any]:
    """JSON Schema of a spec file, as YAML is written (a stage's `block` may be omitted or partial)."""
    schema = ResNetSpec.model_json_schema()
    stage = schema["$defs"]["StageSpec"]
    stage["required"] = [name for name in stage["required"] if name != "block"]
    stage["properties"]["block"] = {
        "description": stage["properties"]["block"]["description"],
        "type": "object",
    }
    # Composition keys (archspec/spec/compose.py) are read before validation but belong in a spec file.
    schema["properties"]["extends"] = {"type": "string", "description": "A preset name or a path to base this spec on."}
    for key, what in (("width", "channels"), ("depth", "block counts")):
        schema["properties"][key] = {"type": "number", "exclusiveMinimum": 0, "description": f"Multiplier of {what}."}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "archspec ResNet spec"
    return schema
