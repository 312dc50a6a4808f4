"""Stem kinds: one module each, registered here, in one place (the union below)."""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from archspec.spec.stems.base import PoolSpec, StemActivation, StemBase
from archspec.spec.stems.cifar import CifarStemSpec
from archspec.spec.stems.conv import ConvStemSpec
from archspec.spec.stems.deep import DeepStemSpec

AnyStemSpec = ConvStemSpec | DeepStemSpec | CifarStemSpec
StemSpec = Annotated[AnyStemSpec, Field(discriminator="kind")]
STEM_KINDS: tuple[str, ...] = tuple(
    get_args(model.model_fields["kind"].annotation)[0] for model in get_args(AnyStemSpec)
)

__all__ = [
    "STEM_KINDS",
    "AnyStemSpec",
    "CifarStemSpec",
    "ConvStemSpec",
    "DeepStemSpec",
    "PoolSpec",
    "StemActivation",
    "StemBase",
    "StemSpec",
]
