"""Block kinds: one module each, registered here, in one place (the union below).

To add a kind, write its module (a `BlockBase` subclass with a `kind` Literal and a `branch`) and add it
to `AnyBlockSpec`; the schema, the JSON Schema, the docs, the hypothesis strategies and the width rules
all read this registry.
"""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from archspec.spec.blocks.base import Activation, BlockBase, NormKind, SqueezeExciteSpec
from archspec.spec.blocks.basic import BasicBlockSpec
from archspec.spec.blocks.bottleneck import BottleneckBlockSpec, BottleneckFields
from archspec.spec.blocks.bottleneck_v1 import BottleneckV1BlockSpec
from archspec.spec.blocks.preact import PreactBlockSpec
from archspec.spec.shortcuts import ShortcutSpec

AnyBlockSpec = BasicBlockSpec | BottleneckBlockSpec | PreactBlockSpec | BottleneckV1BlockSpec
BlockSpec = Annotated[AnyBlockSpec, Field(discriminator="kind")]
BLOCK_MODELS: dict[str, type[BlockBase]] = {
    get_args(model.model_fields["kind"].annotation)[0]: model for model in get_args(AnyBlockSpec)
}
BLOCK_KINDS: tuple[str, ...] = tuple(BLOCK_MODELS)

__all__ = [
    "BLOCK_KINDS",
    "BLOCK_MODELS",
    "Activation",
    "AnyBlockSpec",
    "BasicBlockSpec",
    "BlockBase",
    "BlockSpec",
    "BottleneckBlockSpec",
    "BottleneckFields",
    "BottleneckV1BlockSpec",
    "NormKind",
    "PreactBlockSpec",
    "ShortcutSpec",
    "SqueezeExciteSpec",
]
