"""Pydantic models of a ResNet spec. No torch import: validating a spec is fast.

Conventions: every model forbids unknown keys and is frozen; every field has a
description (the JSON Schema and docs read it); cross-field rules raise through
`fail(loc, message)` so the error points at the offending field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NoReturn

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)
from pydantic_core import PydanticCustomError

Activation = Literal["relu", "silu", "gelu"]
NormKind = Literal["batch", "none"]
Loc = tuple[str | int, ...]


def fail(loc: Loc, message: str) -> NoReturn:
    """Raise a validation error located at `loc`, relative to the model being validated."""
    raise PydanticCustomError("archspec", message, {"archspec_loc": loc})


class Model(BaseModel):
    # strict: YAML already gives typed scalars, so `true` or "64" for a count is a mistake, not a 1 or 64.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


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


class StemSpec(Model):
    channels: PositiveInt = Field(description="Output channels of the stem convolution.")
    kernel_size: PositiveInt = Field(7, description="Stem convolution kernel size.")
    stride: PositiveInt = Field(2, description="Stem convolution stride.")
    padding: NonNegativeInt | None = Field(
        None, description="Stem convolution zero padding; null means kernel_size // 2 ('same' at stride 1)."
    )
    conv_bias: bool = Field(False, description="Give the stem convolution a bias (useless before batch norm).")
    norm: NormKind = Field("batch", description="Normalisation after the stem convolution.")
    activation: Activation = Field("relu", description="Activation after the stem normalisation.")
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


class ShortcutSpec(Model):
    kind: Literal["conv_norm", "conv"] = Field(
        "conv_norm",
        description="Projection used when a shortcut projects: 'conv_norm' is a bias-free strided 1x1 conv "
        "then norm (torchvision); 'conv' is a strided 1x1 conv with bias and no norm (d2l).",
    )
    when: Literal["shape_change", "stage_start"] = Field(
        "shape_change",
        description="When to project: 'shape_change' only where channels or resolution change (torchvision); "
        "'stage_start' at the first block of every stage but the first (d2l's first_block), "
        "and wherever the shape changes.",
    )


class BlockBase(Model):
    conv_bias: bool = Field(False, description="Give the block's convolutions a bias (d2l does; torchvision does not).")
    norm: NormKind = Field("batch", description="Normalisation after each convolution of the residual branch.")
    activation: Activation = Field("relu", description="Activation inside the branch and after the addition.")
    shortcut: ShortcutSpec = Field(
        default_factory=ShortcutSpec, description="How the shortcut projects the input when it must."
    )


class BasicBlockSpec(BlockBase):
    kind: Literal["basic"] = Field(description="Two 3x3 convolutions (ResNet-18/34, d2l's Residual).")


class BottleneckBlockSpec(BlockBase):
    kind: Literal["bottleneck"] = Field(description="1x1 reduce, 3x3 (strided), 1x1 expand (ResNet-50 and deeper).")
    expansion: PositiveInt = Field(
        4, description="Stage channels divided by the inner (bottleneck) width; torchvision uses 4."
    )


BlockSpec = Annotated[BasicBlockSpec | BottleneckBlockSpec, Field(discriminator="kind")]
BLOCK_KINDS: tuple[str, ...] = ("basic", "bottleneck")


class StageSpec(Model):
    channels: PositiveInt = Field(description="Output channels of every block in the stage.")
    blocks: PositiveInt = Field(description="Number of residual blocks in the stage.")
    stride: Literal[1, 2] = Field(1, description="Stride of the stage's first block (2 halves the resolution).")
    block: BlockSpec = Field(
        description="Block settings of this stage: the spec's `block`, with this stage's overrides on top."
    )

    @model_validator(mode="after")
    def _bottleneck_divides(self) -> StageSpec:
        block = self.block
        if isinstance(block, BottleneckBlockSpec) and self.channels % block.expansion:
            fail(
                ("channels",),
                f"bottleneck needs channels divisible by expansion ({block.expansion}), got {self.channels}",
            )
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
    stem: StemSpec = Field(description="The stem: one convolution, norm, activation and optional pooling.")
    block: BlockSpec = Field(description="Default block settings for every stage.")
    stages: list[StageSpec] = Field(min_length=1, max_length=64, description="Residual stages, in order.")
    head: HeadSpec = Field(description="Classifier head: global pooling, dropout and a linear layer.")

    @model_validator(mode="before")
    @classmethod
    def _inherit_block(cls, data: Any) -> Any:
        """Give each stage the spec's block settings, with the stage's own keys on top.

        A stage whose override names a different block kind starts from that kind's
        defaults instead (fields of one kind do not carry over to another).
        """
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
                if isinstance(override, dict):
                    kind = override.get("kind", default.get("kind"))
                    base = default if kind == default.get("kind") else {}
                    stage = {**stage, "block": _merge(base, override)}
            stages.append(stage)
        return {**data, "stages": stages}

    @model_validator(mode="after")
    def _lowers(self) -> ResNetSpec:
        # Shapes are checked by lowering the spec into a plan: one place owns shape arithmetic.
        from archspec.plan import PlanError, lower

        try:
            lower(self)
        except PlanError as err:
            fail(err.loc, err.message)
        return self


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def json_schema() -> dict[str, Any]:
    """JSON Schema of a spec file, as YAML is written (a stage's `block` may be omitted or partial)."""
    schema = ResNetSpec.model_json_schema()
    stage = schema["$defs"]["StageSpec"]
    stage["required"] = [name for name in stage["required"] if name != "block"]
    stage["properties"]["block"] = {
        "description": stage["properties"]["block"]["description"],
        "type": "object",
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "archspec ResNet spec"
    return schema
