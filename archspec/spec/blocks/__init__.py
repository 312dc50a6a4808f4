"""Block kinds: one module each, registered here, in one place, through the kinds registry that plugins use.

To add a kind, write its module (a `BlockBase` subclass with a `kind` Literal and a `branch`) and register
it below, or from your own package (archspec/spec/kinds.py, docs/writing-variants.md "Your own kinds"); the
schema's union, the JSON Schema, the docs, the hypothesis strategies and the width rules all read the
registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from archspec.spec import kinds
from archspec.spec.blocks.base import Activation, BlockBase, NormKind, SqueezeExciteSpec
from archspec.spec.blocks.basic import BasicBlockSpec
from archspec.spec.blocks.bottleneck import BottleneckBlockSpec, BottleneckFields
from archspec.spec.blocks.bottleneck_v1 import BottleneckV1BlockSpec
from archspec.spec.blocks.convnext import ConvNeXtBlockSpec
from archspec.spec.blocks.preact import PreactBlockSpec
from archspec.spec.shortcuts import ShortcutSpec

for _model in (BasicBlockSpec, BottleneckBlockSpec, PreactBlockSpec, BottleneckV1BlockSpec, ConvNeXtBlockSpec):
    kinds.register_block(_model)

if TYPE_CHECKING:  # what mypy checks against; at run time the union holds the plugins' kinds too
    AnyBlockSpec = BasicBlockSpec | BottleneckBlockSpec | PreactBlockSpec | BottleneckV1BlockSpec | ConvNeXtBlockSpec
    BlockSpec = Annotated[AnyBlockSpec, Field(discriminator="kind")]
    BLOCK_MODELS: dict[str, type[BlockBase]]
    BLOCK_KINDS: tuple[str, ...]
else:  # read from the registry when first used, once the installed plugins have loaded
    __getattr__ = kinds.lazy_attributes(
        __name__, "block", models="BLOCK_MODELS", names="BLOCK_KINDS", union="AnyBlockSpec", field="BlockSpec"
    )


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
    "ConvNeXtBlockSpec",
    "NormKind",
    "PreactBlockSpec",
    "ShortcutSpec",
    "SqueezeExciteSpec",
]
