"""archspec: ResNet variants as YAML specs, validated, built, measured and trained."""

from __future__ import annotations

import json
from pathlib import Path
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
    from torch import nn

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
    "create_model",
    "dump_spec",
    "load_spec",
    "lower",
    "preset_names",
    "resolve_spec",
    "spec_hash",
    "weights",
]


def create_model(
    name_or_spec: str | Path | ResNetSpec,
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
    weights: str | Path | None = None,
    layout: str | None = None,
    **overrides: Any,
) -> nn.Sequential:
    """The torch model of a preset name, spec file, YAML text or ResNetSpec in one call, as timm's
    `create_model("resnet50", num_classes=10)`.

    `num_classes` and `in_channels` set the head's class count and the input's channels; every other keyword is a
    spec field set as `--set` would (`width=0.5`; `**{"stages[2].blocks": 8}` for a nested one). `weights`: an
    archspec checkpoint, a run folder (its best.pt) or a state dict file (torch.save or .safetensors) whose tensors
    are named as `layout` says (torchvision, timm, d2l); matching tensors load, a first conv with other input
    channels is adapted, a head with another class count stays new, anything else that does not fit is a
    CheckpointError. The model is in training mode, as `build` returns it.
    """
    sets = [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    if num_classes is not None:
        sets.append(f"head.num_classes={json.dumps(num_classes)}")
    if in_channels is not None:
        sets.append(f"input.channels={json.dumps(in_channels)}")
    source = dump_spec(name_or_spec) if isinstance(name_or_spec, ResNetSpec) else name_or_spec
    spec = load_spec(source, sets)
    from archspec.nn.build import build

    model = build(spec)
    if weights is not None:
        from archspec.train.finetune import prepare

        prepare(Path(weights), spec, layout).apply(model)
    elif layout is not None:
        raise ArchspecError(f"layout={layout!r} names how the tensors of weights= are named; give weights= too")
    return model


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
