"""archspec: ResNet variants as YAML specs, validated, built, measured and trained."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archspec.arch.complexity import complexity
from archspec.arch.guard import use_in_force
from archspec.arch.plan import Plan, lower
from archspec.arch.validate import load_spec, resolve_spec
from archspec.errors import ArchspecError, CheckpointError, DataError, ResourceError, SpecError
from archspec.limits import environment_limits
from archspec.spec.io import dump_spec, spec_hash
from archspec.spec.presets import preset_names
from archspec.spec.schema import ResNetSpec

# Callers that name no limits (a checkpoint's stored spec, a sweep's workers) get ARCHSPEC_MAX_* or the
# defaults: the environment is policy, read in archspec/limits.py, never in arch/ (arch/guard.py computes).
use_in_force(environment_limits)

if TYPE_CHECKING:
    from archspec.artifacts.checkpoint import checkpoint_model
    from archspec.nn import weights
    from archspec.nn.build import Features, build

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
    "checkpoint_model",
    "complexity",
    "dump_spec",
    "load_spec",
    "lower",
    "preset_names",
    "resolve_spec",
    "spec_hash",
    "weights",
]


def __getattr__(name: str) -> Any:
    # torch is imported only when a model is built, so `archspec validate` stays fast.
    if name in ("build", "Features"):
        from archspec.nn import build as module

        return getattr(module, name)
    if name == "weights":  # archspec.weights.load(model, state_dict, spec, layout=...)
        from archspec.nn import weights

        return weights
    if name == "checkpoint_model":
        from archspec.artifacts import checkpoint

        return checkpoint.checkpoint_model
    raise AttributeError(f"module 'archspec' has no attribute {name!r}")
