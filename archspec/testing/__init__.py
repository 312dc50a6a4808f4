"""Property-testing ResNet specs, yours included: hypothesis strategies (`specs`, `variants_of`), and the
properties every spec must have (archspec.testing.properties, which `archspec check` runs).

Needs the `hypothesis` package (installed with archspec); the properties also import torch.
"""

from __future__ import annotations

from archspec.testing.strategies import (
    ACTIVATIONS,
    NORMS,
    SHORTCUTS,
    block_settings,
    spec_data,
    specs,
    stem_settings,
    variants_of,
)

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "SHORTCUTS",
    "block_settings",
    "spec_data",
    "specs",
    "stem_settings",
    "variants_of",
]
