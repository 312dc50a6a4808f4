"""Checkpoints: written atomically, read with `torch.load(weights_only=True)`, tied to their spec by hash.

A checkpoint is a plain dict of tensors, numbers and strings (nothing that needs unpickling code):
model, optimizer and scheduler state, RNG states, the number of completed epochs, the metrics so far,
the canonical spec and recipe text with the spec's hash, the class names in label order ("classes") and
the input preprocessing ("preprocess", the dict of `Preprocessing.to_dict`, as in every export).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspec.arch.validate import spec_from_text
from archspec.config.files import write_atomic
from archspec.errors import ArchspecError, CheckpointError
from archspec.nn.build import build
from archspec.nn.weights import read_file
from archspec.spec.io import spec_hash
from archspec.spec.schema import ResNetSpec
from archspec.train.datasets.idx import IdxData, dataset_info
from archspec.train.preprocess import Preprocessing
from archspec.train.recipe import recipe_from_text
from archspec.train.rundir import RunDir

FORMAT = "archspec-checkpoint/1"
REQUIRED = ("format", "epoch", "model", "optimizer", "scheduler", "rng", "spec_text", "spec_hash", "recipe_text")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Serialise in memory, then write to a temporary file and rename it over `path`."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    write_atomic(path, buffer.getvalue(), CheckpointError)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's dict; CheckpointError (never a traceback) for a missing, truncated or foreign file."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    return checked_checkpoint(read_file(path, "checkpoint"), path)


def checked_checkpoint(state: Any, path: Path) -> dict[str, Any]:
    """`state` (read from `path`) if it is an archspec checkpoint with every required entry."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an archspec checkpoint (expected format {FORMAT!r})")
    missing = [key for key in REQUIRED if key not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return state


def checkpoint_file(path: Path | str) -> Path:
    """A checkpoint file as given, or a run folder's best checkpoint."""
    return RunDir.checkpoint_of(Path(path))


def checkpoint_labels(state: dict[str, Any], path: Path, spec: ResNetSpec) -> tuple[tuple[str, ...], Preprocessing]:
    """The class names and input preprocessing a checkpoint was trained with.

    Checkpoints written before these were stored get them from their recipe: an IDX dataset's class names
    and statistics at the spec's input size.
    """
    if "classes" in state and "preprocess" in state:
        classes = state["classes"]
        if not isinstance(classes, list | tuple) or not all(isinstance(name, str) for name in classes):
            raise CheckpointError(f"{path}: stored classes are not a list of names")
        return tuple(classes), Preprocessing.from_dict(state["preprocess"], str(path), CheckpointError)
    recipe = recipe_from_text(str(state["recipe_text"]), f"{path} (stored recipe)")
    source = recipe.source
    if not isinstance(source, IdxData):
        raise CheckpointError(f"{path}: checkpoint lacks its class names and preprocessing")
    info = dataset_info(source.name)
    mean, std = ((info.mean,), (info.std,)) if recipe.normalize else ((0.0,), (1.0,))
    return info.classes, Preprocessing(spec.input.height, spec.input.width, 1, mean, std)


def checkpoint_spec(state: dict[str, Any], path: Path, spec: ResNetSpec | None = None) -> ResNetSpec:
    """The spec a checkpoint was trained with; refuses a checkpoint whose hash does not match `spec`."""
    try:
        stored = spec_from_text(str(state["spec_text"]), f"{path} (stored spec)")
    except ArchspecError as err:  # a stored spec the current schema rejects
        raise CheckpointError(f"{path}: stored spec no longer validates: {err}") from None
    if spec_hash(stored) != state["spec_hash"]:
        raise CheckpointError(f"{path}: stored spec hash {state['spec_hash']} does not match its own text (edited?)")
    if spec is not None and spec_hash(spec) != state["spec_hash"]:
        raise CheckpointError(
            f"{path}: checkpoint is for spec hash {state['spec_hash']} ({stored.name}), "
            f"but the spec given is {spec_hash(spec)} ({spec.name}); refusing to load mismatched weights"
        )
    return stored


def checkpoint_model(path: Path, state: dict[str, Any] | None = None) -> tuple[nn.Module, ResNetSpec]:
    """The model a checkpoint holds, built from its stored spec, with its weights loaded (eval mode)."""
    state = state if state is not None else load_checkpoint(path)
    spec = checkpoint_spec(state, path)
    model = build(spec)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as err:
        raise CheckpointError(f"{path}: weights do not fit the stored spec: {str(err)[:200]}") from None
    return model.eval(), spec
