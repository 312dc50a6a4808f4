"""Pydantic models of a ResNet spec. No torch import: validating a spec is fast.

Conventions: every model forbids unknown keys and is frozen; every field has a
description (the JSON Schema and docs read it); cross-field rules raise through
`fail(loc, message)` so the error points at the offending field. Block kinds live in spec/blocks/,
stem kinds in spec/stems/, shortcut kinds in spec/shortcuts.py, one module per kind.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, PositiveInt, model_validator

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
    BottleneckV1BlockSpec,
    NormKind,
    PreactBlockSpec,
    ShortcutSpec,
    SqueezeExciteSpec,
)
from archspec.spec.bounds import (
    MAX_BLOCKS,
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_INPUT_SIDE,
    MAX_MULTIPLIER,
    MAX_OUTPUT_STRIDE,
    MAX_TEXT,
)
from archspec.spec.regnet import RegNetStages, expand_stages
from archspec.spec.stems import STEM_KINDS, CifarStemSpec, ConvStemSpec, DeepStemSpec, PoolSpec, StemSpec

__all__ = [
    "BLOCK_KINDS",
    "STEM_KINDS",
    "Activation",
    "AnyBlockSpec",
    "BasicBlockSpec",
    "BlockSpec",
    "BottleneckBlockSpec",
    "BottleneckFields",
    "BottleneckV1BlockSpec",
    "CifarStemSpec",
    "ConvStemSpec",
    "DeepStemSpec",
    "DownsampleSpec",
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
    channels: PositiveInt = Field(le=MAX_CHANNELS, description="Input image channels (1 for Fashion-MNIST, 3 for RGB).")
    height: PositiveInt = Field(le=MAX_INPUT_SIDE, description="Input image height in pixels.")
    width: PositiveInt = Field(le=MAX_INPUT_SIDE, description="Input image width in pixels.")


class DownsampleSpec(Model):
    """A separate downsampling layer before a stage's blocks (ConvNeXt): norm, then a conv whose kernel and
    stride are the stage's stride, from the previous width to the stage's channels."""

    norm: Literal["layer", "batch", "none"] = Field(
        "layer", description="Normalisation before the conv: layer (channels-first, eps 1e-6; ConvNeXt), batch or none."
    )
    conv_bias: bool = Field(True, description="Give the conv a bias (ConvNeXt's has one).")


class StageSpec(Model):
    channels: PositiveInt = Field(le=MAX_CHANNELS, description="Output channels of every block in the stage.")
    blocks: PositiveInt = Field(le=MAX_BLOCKS, description="Number of residual blocks in the stage.")
    stride: Literal[1, 2] = Field(
        1,
        description="Stride of the stage (2 halves the resolution): of its first block, or of its downsampling "
        "layer where it has one.",
    )
    downsample: DownsampleSpec | None = Field(
        None,
        json_schema_extra={"since": 2},
        description="A separate downsampling layer before the blocks (ConvNeXt: layer norm and a 2x2 stride-2 "
        "conv), which then all run at stride 1 and keep the stage's width; null: the first block strides and "
        "projects its shortcut, as a ResNet's.",
    )
    block: BlockSpec = Field(
        description="Block settings of this stage: the spec's `block`, with this stage's overrides on top. "
        "Optional: a stage without it uses the spec's `block`; a partial mapping changes only the fields it names."
    )

    @model_validator(mode="after")
    def _bottleneck_divides(self) -> StageSpec:
        problem = self.block.width_error(self.channels)
        if problem:
            fail(("channels",), problem)
        if self.downsample is not None and self.stride == 1:
            fail(("downsample",), "a stride-1 stage has nothing to downsample; set stride: 2, or downsample: null")
        return self


class HeadSpec(Model):
    pool: Literal["avg", "max"] = Field("avg", description="Global pooling over the last feature map.")
    norm: Literal["none", "layer"] = Field(
        "none",
        json_schema_extra={"since": 2},
        description="Normalisation of the pooled features before the classifier: layer (ConvNeXt's head, eps 1e-6) "
        "or none.",
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout probability before the classifier.")
    num_classes: PositiveInt = Field(le=MAX_CLASSES, description="Number of output classes (logits).")


class ResNetSpec(Model):
    # keys a spec file may hold beside the fields, applied before validation (spec/compose.py): named in the
    # "allowed:" list of an unknown top-level key
    document_keys: ClassVar[tuple[str, ...]] = ("extends", "width", "depth")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100, description="Short identifier of the variant."
    )
    description: str = Field(
        "", max_length=MAX_TEXT, description="Free text shown by `archspec list`; not inherited through `extends`."
    )
    input: InputSpec = Field(description="Shape of one input image.")
    stem: StemSpec = Field(
        description="The stem: convolution(s), norm, activation and optional pooling; `kind` defaults to conv."
    )
    block: BlockSpec = Field(description="Default block settings for every stage.")
    stages: list[StageSpec] = Field(
        min_length=1,
        max_length=64,
        description="Residual stages, in order; or `{regnet: {...}}`, a RegNet design that generates them "
        "(see RegNetStages).",
    )
    output_stride: PositiveInt | None = Field(
        None,
        le=MAX_OUTPUT_STRIDE,
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
        if isinstance(data, dict):
            data = expand_stages(data)  # `stages: {regnet: ...}` becomes the list it generates
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
    def _blocks_in_all(self) -> ResNetSpec:
        total = sum(stage.blocks for stage in self.stages)
        if total > MAX_BLOCKS:
            fail(("stages",), f"{total:,} blocks in all; at most {MAX_BLOCKS:,} (ResNet-1202, the deepest published, "
                 "has 600)")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _output_stride_power_of_two(self) -> ResNetSpec:
        # Shapes are checked by lowering (archspec.arch.plan), the one place that owns shape arithmetic.
        if self.output_stride is not None and self.output_stride & (self.output_stride - 1):
            fail(("output_stride",), f"must be a power of two (8, 16, 32), got {self.output_stride}")
        return self

    @model_validator(mode="after")
    def _one_final_norm(self) -> ResNetSpec:
        if self.head.norm != "none" and self.stages[-1].block.final_norm:
            kind = getattr(self.stages[-1].block, "kind", "")
            fail(("head", "norm"), f"the last stage's {kind} blocks already get a norm before the pool; set "
                 "head.norm: none")  # fmt: skip
        return self


def json_schema() -> dict[str, Any]:
    """JSON Schema of a spec file, as YAML is written: every file the loader accepts validates against it.

    A file without `extends` needs every required field; a file with `extends` says only what differs, so
    every mapping in it is partial (the `Partial...` definitions: no required fields, any kind's fields).
    A stage's `block` is partial in both (it merges over the spec's `block`), with each kind's fields for
    completion. The top level lists the partial fields, for editors' completion; `else` adds what a
    file without `extends` requires.
    """
    full = ResNetSpec.model_json_schema()
    defs: dict[str, Any] = full.pop("$defs")
    stage_block = defs["StageSpec"]["properties"]["block"]
    defs["StageSpec"]["properties"]["block"] = _partial(stage_block)
    defs["StageSpec"]["required"] = [name for name in defs["StageSpec"]["required"] if name != "block"]
    # Composition keys (archspec/spec/compose.py) are read before validation but belong in a spec file.
    extends = {"type": "string", "minLength": 1, "description": "A preset name or a spec file to base this one on."}
    directives: dict[str, Any] = {"extends": extends}
    for key, what in (("width", "channels"), ("depth", "block counts")):
        directives[key] = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MULTIPLIER,
                           "description": f"Multiplier of {what}."}  # fmt: skip
    full["properties"].update(directives)
    # `stages` may instead be a generator (archspec/spec/regnet.py), expanded before validation
    defs["RegNetStages"] = RegNetStages.model_json_schema()
    generator = {"type": "object", "properties": {"regnet": {"$ref": "#/$defs/RegNetStages"}},
                 "required": ["regnet"], "additionalProperties": False}  # fmt: skip
    stage_list = full["properties"]["stages"]
    full["properties"]["stages"] = {"anyOf": [stage_list, generator], "description": stage_list["description"]}
    top = _partial(full)
    # a list is replaced whole, each stage complete; a generator mapping merges key by key
    top["properties"]["stages"] = {"anyOf": [stage_list, _partial(generator)], "description": stage_list["description"]}
    partial = {f"Partial{name}": _partial(body) for name, body in defs.items()}
    defs["ResNetSpec"] = full
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "archspec ResNet spec",
        "description": full.get("description", ""),
        "type": "object",
        "properties": top["properties"],
        "additionalProperties": False,
        "if": {"required": ["extends"]},
        "else": {"$ref": "#/$defs/ResNetSpec"},
        "$defs": {**defs, **partial},
    }


def _partial(schema: Any) -> Any:
    """`schema` with no field required, anywhere below it: what a file that extends another may say."""
    if isinstance(schema, list):
        return [_partial(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("required", "discriminator"):
            continue  # a partial mapping may leave its kind to the one it merges over
        if key == "$ref" and isinstance(value, str):
            name = value.rsplit("/", 1)[1]
            out[key] = value if name.startswith("Partial") else f"#/$defs/Partial{name}"
        elif key == "oneOf":
            out["anyOf"] = _partial(value)  # without `kind`, a partial block may fit several kinds
        else:
            out[key] = _partial(value)
    return out
