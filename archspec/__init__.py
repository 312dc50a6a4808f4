"""archspec: ResNet variants as YAML specs, validated, built, measured and trained."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archspec.errors import ArchspecError, CheckpointError, DataError, ResourceError, SpecError
from archspec.plan import Plan, lower
from archspec.schema import ResNetSpec
from archspec.spec import dump_spec, load_spec, preset_names, spec_hash

if TYPE_CHECKING:
    from archspec.builder import Features, build

__all__ = [
    "ArchspecError",
    "CheckpointError",
    "DataError",
    "Features",
    "Plan",
    "ResNetSpec",
    "ResourceError",
    "SpecError",
    "build",
    "dump_spec",
    "load_spec",
    "lower",
    "preset_names",
    "spec_hash",
]


def __getattr__(name: str) -> Any:
    # torch is imported only when a model is built, so `archspec validate` stays fast.
    if name in ("build", "Features"):
        from archspec import builder

        return getattr(builder, name)
    raise AttributeError(f"module 'archspec' has no attribute {name!r}")
