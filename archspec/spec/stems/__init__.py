"""Stem kinds: one module each, registered here, in one place, through the kinds registry that plugins use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from archspec.spec import kinds
from archspec.spec.stems.base import PoolSpec, StemActivation, StemBase
from archspec.spec.stems.cifar import CifarStemSpec
from archspec.spec.stems.conv import ConvStemSpec
from archspec.spec.stems.deep import DeepStemSpec
from archspec.spec.stems.patchify import PatchifyStemSpec

for _model in (ConvStemSpec, DeepStemSpec, CifarStemSpec, PatchifyStemSpec):
    kinds.register_stem(_model)

if TYPE_CHECKING:  # what mypy checks against; at run time the union holds the plugins' kinds too
    AnyStemSpec = ConvStemSpec | DeepStemSpec | CifarStemSpec | PatchifyStemSpec
    StemSpec = Annotated[AnyStemSpec, Field(discriminator="kind")]
    STEM_MODELS: dict[str, type[StemBase]]
    STEM_KINDS: tuple[str, ...]
else:  # read from the registry when first used, once the installed plugins have loaded
    __getattr__ = kinds.lazy_attributes(
        __name__, "stem", models="STEM_MODELS", names="STEM_KINDS", union="AnyStemSpec", field="StemSpec"
    )


__all__ = [
    "STEM_KINDS",
    "STEM_MODELS",
    "AnyStemSpec",
    "CifarStemSpec",
    "ConvStemSpec",
    "DeepStemSpec",
    "PatchifyStemSpec",
    "PoolSpec",
    "StemActivation",
    "StemBase",
    "StemSpec",
]
