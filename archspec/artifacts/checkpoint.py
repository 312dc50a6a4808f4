"""Checkpoints: written atomically, read with `torch.load(weights_only=True)`, tied to their spec by hash.

A checkpoint is a plain dict of tensors, numbers and strings (nothing that needs unpickling code):
model, optimizer and scheduler state, RNG states, the number of completed epochs, the metrics so far,
the canonical spec and recipe text with the spec's hash, the class names in label order ("classes"), the
input preprocessing ("preprocess", the dict of `Preprocessing.to_dict`, as in every export) and a SHA-256
of the model's weights.

Reading one checks every part's type and shape (`load_checkpoint`) and the weights' checksum, and
checks the stored spec against the resource limits and its weights' names and shapes before anything
is built at full size (`checkpoint_spec`): a damaged or forged file is a one-line CheckpointError.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspec.arch.guard import Limits, Workload, check_spec
from archspec.arch.validate import spec_from_text
from archspec.artifacts.rundir import RunDir
from archspec.config.diagnostics import clip
from archspec.config.files import write_atomic
from archspec.data.idx import IdxData, dataset_info
from archspec.data.preprocess import Preprocessing
from archspec.errors import ArchspecError, CheckpointError
from archspec.nn.build import build
from archspec.nn.weights import read_file
from archspec.recipe.schema import recipe_from_text
from archspec.spec.io import spec_hash
from archspec.spec.schema import ResNetSpec

FORMAT = "archspec-checkpoint/1"
REQUIRED = ("format", "epoch", "model", "optimizer", "scheduler", "rng", "spec_text", "spec_hash", "recipe_text")
CHECKSUM = "model_sha256"
MAX_EPOCH = 100_000  # the recipe's bound on epochs


def state_checksum(weights: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict: every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(weights):
        tensor = weights[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Serialise in memory (with the weights' checksum), then write to a temporary file and rename it."""
    if isinstance(state.get("model"), Mapping):
        state = {**state, CHECKSUM: state_checksum(state["model"])}
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    write_atomic(path, buffer.getvalue(), CheckpointError)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's dict; CheckpointError (never a traceback) for a missing, truncated, corrupt, malformed
    or foreign file."""
    try:
        found = path.is_file()
    except OSError as err:  # a name over 255 bytes
        raise CheckpointError(f"{clip(str(path), 200)}: cannot read: {err.strerror or err}") from None
    if not found:
        raise CheckpointError(f"{path}: no such checkpoint file")
    return checked_checkpoint(read_file(path, "checkpoint"), path)


def checked_checkpoint(state: Any, path: Path) -> dict[str, Any]:
    """`state` (read from `path`) if it is an archspec checkpoint with every required entry."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an archspec checkpoint (expected format {FORMAT!r})")
    missing = [key for key in REQUIRED if key not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    problem = _malformed(state)
    if problem:
        raise CheckpointError(f"{path}: malformed checkpoint: {problem}")
    if CHECKSUM in state and state_checksum(state["model"]) != state[CHECKSUM]:
        raise CheckpointError(f"{path}: the model's weights do not match their checksum (damaged on disk?)")
    return state


def _malformed(state: dict[str, Any]) -> str | None:
    """What is wrong with the types and shapes of a loaded checkpoint's parts, or None."""
    epoch = state["epoch"]
    if type(epoch) is not int or not 0 <= epoch <= MAX_EPOCH:  # 0: imported weights (archspec weights import)
        return f"epoch must be a whole number from 0 to {MAX_EPOCH:,}, got {clip(repr(epoch))}"
    for key in ("spec_text", "spec_hash", "recipe_text", *((CHECKSUM,) if CHECKSUM in state else ())):
        if not isinstance(state[key], str):
            return f"{key} must be text, got {type(state[key]).__name__}"
    model = state["model"]
    if (
        not isinstance(model, dict)
        or not model
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items())
    ):
        return "model must be a mapping of parameter names to tensors"
    if epoch == 0 and state["optimizer"] == {} and state["scheduler"] == {} and state["rng"] == {}:
        return None  # imported weights (archspec weights import): nothing trained, nothing to resume
    optimizer = state["optimizer"]
    groups = optimizer.get("param_groups") if isinstance(optimizer, dict) else None
    if not (isinstance(optimizer, dict) and isinstance(optimizer.get("state"), dict) and isinstance(groups, list)
            and all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups)):  # fmt: skip
        return "optimizer must be an optimizer state dict (state, param_groups with params)"
    for key in ("scheduler", *(("scaler",) if "scaler" in state else ())):
        if not isinstance(state[key], dict):
            return f"{key} must be a state dict (a mapping), got {type(state[key]).__name__}"
    rng = state["rng"]
    size = torch.get_rng_state().numel()
    if not (isinstance(rng, dict) and _byte_tensor(rng.get("torch"), size)
            and all(_byte_tensor(value) for value in rng.values())):  # fmt: skip
        return f"rng must hold the torch generator state (a uint8 tensor of {size} bytes)"
    metrics = state.get("metrics", [])
    if not isinstance(metrics, list) or not all(
        isinstance(row, dict) and all(isinstance(k, str) and _finite(v) for k, v in row.items()) for row in metrics
    ):
        return "metrics must be a list of rows of numbers"
    if metrics and len(metrics) != epoch:
        return f"metrics has {len(metrics)} rows for {epoch} epochs"
    return None


def _byte_tensor(value: Any, size: int | None = None) -> bool:
    ok = isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 1
    return ok and (size is None or value.numel() == size)


def _finite(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def checkpoint_file(path: str | Path) -> Path:
    """A checkpoint file as given, or a run folder's best checkpoint."""
    try:
        return RunDir.checkpoint_of(Path(path))
    except OSError:  # a name over 255 bytes: load_checkpoint says so
        return Path(path)


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


def checkpoint_spec(
    state: dict[str, Any], path: Path, spec: ResNetSpec | None = None, limits: Limits | None = None
) -> ResNetSpec:
    """The spec a checkpoint was trained with; refuses a checkpoint whose hash does not match `spec`, whose
    stored spec is over `limits` (default: ARCHSPEC_MAX_* or the defaults), or whose weights do not have
    the names and shapes of that spec's model (checked on torch's meta device: nothing allocated)."""
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
    try:
        check_spec(stored, limits, Workload(), flags=limits is not None)
    except ArchspecError as err:
        raise CheckpointError(f"{path}: stored spec: {err}") from None
    with torch.device("meta"):
        expected = build(stored).state_dict()
    problem = weights_mismatch(state["model"], expected)
    if problem:
        raise CheckpointError(f"{path}: weights do not fit the stored spec: {problem}")
    return stored


def weights_mismatch(weights: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> str | None:
    """One line saying how `weights` differ from `expected` in names, shapes and dtypes, or None."""
    missing = [name for name in expected if name not in weights]
    unexpected = [name for name in weights if name not in expected]
    shapes = [
        f"{name} {_shape(weights[name])} (expected {_shape(tensor)})"
        for name, tensor in expected.items()
        if name in weights and (weights[name].shape != tensor.shape or weights[name].dtype != tensor.dtype)
    ]
    parts = []
    for what, names in (("missing", missing), ("unexpected", unexpected), ("of the wrong shape or type", shapes)):
        if names:
            shown = ", ".join(clip(name, 80) for name in names[:3])
            parts.append(f"{len(names)} {what} ({shown}{', ...' if len(names) > 3 else ''})")
    return "; ".join(parts) or None


def _shape(tensor: torch.Tensor) -> str:
    return f"{'x'.join(map(str, tensor.shape)) or 'scalar'} {str(tensor.dtype).removeprefix('torch.')}"


def checkpoint_model(
    path: str | Path, state: dict[str, Any] | None = None, limits: Limits | None = None
) -> tuple[nn.Module, ResNetSpec]:
    """The model a checkpoint (a file, or a run folder: its best checkpoint) holds, built from its stored
    spec, with its weights loaded (eval mode)."""
    path = checkpoint_file(path)
    state = state if state is not None else load_checkpoint(path)
    spec = checkpoint_spec(state, path, limits=limits)
    model = build(spec)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as err:  # checkpoint_spec compared names and shapes: a last resort
        raise CheckpointError(f"{path}: weights do not fit the stored spec: {clip(str(err), 200)}") from None
    return model.eval(), spec
