"""Checkpoints: a typed `Checkpoint`, written atomically, read with `torch.load(weights_only=True)`, versioned.

On disk a checkpoint is a plain dict of tensors, numbers and strings (nothing that needs unpickling code);
this module is the only one that knows its keys. `Checkpoint.load` reads a file of any earlier format
through the migrations (archspec.artifacts.migrations), refuses a newer one naming both versions, and
checks every part once: types, shapes, the metrics rows' columns, the weights' checksum, the stored spec
(it must validate and match its hash), the class names against the head, the preprocessing against the
input. What is left to check needs the caller's policy (`checkpoint_spec`: the resource limits, and the
weights' names and shapes against the stored spec, on torch's meta device) or a live session
(`Resumable.restore`: optimizer and scheduler state against the ones the recipe makes).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspec.arch.guard import Limits, Workload, check_spec
from archspec.arch.validate import spec_from_text
from archspec.artifacts.migrations import CHECKPOINT, archspec_version, checkpoint_format, checkpoint_version
from archspec.artifacts.rundir import COLUMNS, RunDir
from archspec.config.diagnostics import clip
from archspec.config.files import write_atomic
from archspec.data.idx import IdxData, dataset_info
from archspec.data.preprocess import Preprocessing
from archspec.errors import ArchspecError, CheckpointError
from archspec.nn.build import build
from archspec.nn.weights import read_file
from archspec.recipe.schema import Recipe, recipe_from_text
from archspec.spec.io import dump_spec, spec_hash
from archspec.spec.schema import ResNetSpec

FORMAT = checkpoint_format()
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


@dataclass(frozen=True)
class Resumable:
    """What a run needs, beyond the weights, to continue exactly: optimizer, schedule, scaler and RNG states."""

    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, torch.Tensor]
    scaler: dict[str, Any] = field(default_factory=dict)

    def restore(
        self,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        scaler: torch.amp.GradScaler,
        device: torch.device,
        source: str,
    ) -> None:
        """Load the states into a fresh session's parts; CheckpointError naming the part that does not fit them."""
        problem = _optimizer_mismatch(self.optimizer, optimizer.state_dict())
        if problem:
            raise CheckpointError(f"{source}: optimizer state does not fit the recipe's optimizer: {problem}")
        missing = sorted(set(scheduler.state_dict()) - set(self.scheduler))
        if missing:
            raise CheckpointError(f"{source}: scheduler state lacks {', '.join(missing)}")
        try:
            optimizer.load_state_dict(self.optimizer)
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            raise CheckpointError(f"{source}: optimizer state does not load: {clip(str(err), 200)}") from None
        try:
            scheduler.load_state_dict(self.scheduler)
            if self.scaler:
                scaler.load_state_dict(self.scaler)
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            raise CheckpointError(f"{source}: scheduler or scaler state does not load: {clip(str(err), 200)}") from None
        torch.set_rng_state(self.rng["torch"])
        if device.type == "cuda" and "cuda" in self.rng:
            torch.cuda.set_rng_state(self.rng["cuda"], device)


def _optimizer_mismatch(stored: dict[str, Any], fresh: dict[str, Any]) -> str | None:
    """How a stored optimizer state differs in shape from a fresh one's: groups and parameters per group."""
    theirs, ours = stored["param_groups"], fresh["param_groups"]
    if len(theirs) != len(ours):
        return f"param_groups has {len(theirs)} groups, the recipe makes {len(ours)}"
    for index, (a, b) in enumerate(zip(theirs, ours, strict=True)):
        if len(a["params"]) != len(b["params"]):
            return f"param_groups[{index}] has {len(a['params'])} parameters, the model has {len(b['params'])}"
    return None


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint, checked: the weights, the spec and recipe they were trained with, and how far they got."""

    model: dict[str, torch.Tensor]
    spec: ResNetSpec
    recipe_text: str
    epoch: int = 0
    metrics: tuple[dict[str, float], ...] = ()
    classes: tuple[str, ...] | None = None  # the class names in label order; None for imported weights
    preprocess: Preprocessing | None = None  # the input contract, as in every export
    dataset: str = ""  # what the data was (Dataset.describe)
    training: Resumable | None = None  # None for imported weights: nothing trained, nothing to resume
    imported: dict[str, str] | None = None  # archspec weights import: the source file and its layout
    written_by: str = field(default_factory=archspec_version)
    read_format: int = CHECKPOINT.current  # the format the file was in (older ones were migrated on load)
    source: str = "<memory>"  # the file it was read from, for messages

    # --- files ------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Serialise in memory (with the weights' checksum), then write to a temporary file and rename it."""
        buffer = io.BytesIO()
        torch.save(self.to_state(), buffer)
        write_atomic(path, buffer.getvalue(), CheckpointError)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        """The checkpoint in `path`; CheckpointError (never a traceback) for a missing, truncated, corrupt,
        malformed, foreign or newer file."""
        try:
            found = path.is_file()
        except OSError as err:  # a name over 255 bytes
            raise CheckpointError(f"{clip(str(path), 200)}: cannot read: {err.strerror or err}") from None
        if not found:
            raise CheckpointError(f"{path}: no such checkpoint file")
        return cls.from_state(read_file(path, "checkpoint"), path)

    def to_state(self) -> dict[str, Any]:
        """The on-disk form, in the current format."""
        training = self.training or Resumable({}, {}, {})
        return {
            "format": FORMAT,
            "archspec": self.written_by,
            "epoch": self.epoch,
            "model": self.model,
            CHECKSUM: state_checksum(self.model),
            "optimizer": training.optimizer,
            "scheduler": training.scheduler,
            "scaler": training.scaler,
            "rng": training.rng,
            "metrics": [dict(row) for row in self.metrics],
            "spec_text": dump_spec(self.spec),
            "spec_hash": spec_hash(self.spec),
            "recipe_text": self.recipe_text,
            "dataset": self.dataset,
            "classes": list(self.classes) if self.classes is not None else None,
            "preprocess": self.preprocess.to_dict() if self.preprocess is not None else None,
            "imported": self.imported,
        }

    @classmethod
    def from_state(cls, state: Any, path: Path | str) -> Checkpoint:
        """`state` (read from `path`) as a checked Checkpoint, migrated from its format to the current one."""
        version = checkpoint_version(state.get("format")) if isinstance(state, dict) else None
        if version is None:
            raise CheckpointError(f"{path}: not an archspec checkpoint (expected format {FORMAT!r})")
        assert isinstance(state, dict)
        missing = [key for key in REQUIRED if key not in state]
        if missing:
            raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
        state = CHECKPOINT.migrate(state, version, str(path), CheckpointError)
        problem = _malformed(state)
        if problem:
            raise CheckpointError(f"{path}: malformed checkpoint: {problem}")
        if CHECKSUM in state and state_checksum(state["model"]) != state[CHECKSUM]:
            raise CheckpointError(f"{path}: the model's weights do not match their checksum (damaged on disk?)")
        spec = _stored_spec(state, path)
        checkpoint = cls(
            model=state["model"],
            spec=spec,
            recipe_text=state["recipe_text"],
            epoch=state["epoch"],
            metrics=tuple(dict(row) for row in state["metrics"]),
            classes=tuple(state["classes"]) if state["classes"] is not None else None,
            preprocess=_preprocessing(state["preprocess"], spec, path),
            dataset=state["dataset"],
            training=None if _untrained(state) else _resumable(state),
            imported=state["imported"],
            written_by=state["archspec"],
            read_format=version,
            source=str(path),
        )
        if checkpoint.classes is not None and len(checkpoint.classes) != spec.head.num_classes:
            raise CheckpointError(f"{path}: malformed checkpoint: classes names {len(checkpoint.classes)} classes "
                                  f"but the stored spec's head has {spec.head.num_classes}")  # fmt: skip
        return checkpoint

    @classmethod
    def is_checkpoint(cls, state: Any) -> bool:
        """Whether an object read from a file claims to be an archspec checkpoint (of any format)."""
        return isinstance(state, dict) and checkpoint_version(state.get("format")) is not None

    @property
    def outdated(self) -> bool:
        """Whether the file was of an earlier format (saving this checkpoint writes the current one)."""
        return self.read_format < CHECKPOINT.current

    # --- what it holds ------------------------------------------------------------------------------

    def recipe(self, overrides: Sequence[str] = ()) -> Recipe:
        """The stored recipe (with `overrides`), validated by today's schema."""
        return recipe_from_text(self.recipe_text, f"{self.source} (stored recipe)", overrides)

    def labels(self) -> tuple[tuple[str, ...], Preprocessing]:
        """The class names and input preprocessing the weights were trained with.

        Checkpoints without stored labels (imported weights, files written before labels were stored) get
        them from their recipe: an IDX dataset's class names and statistics at the spec's input size.
        """
        if self.classes is not None and self.preprocess is not None:
            return self.classes, self.preprocess
        recipe = self.recipe()
        source = recipe.source
        if not isinstance(source, IdxData):
            raise CheckpointError(f"{self.source}: checkpoint lacks its class names and preprocessing")
        info = dataset_info(source.name)
        mean, std = ((info.mean,), (info.std,)) if recipe.normalize else ((0.0,), (1.0,))
        return info.classes, Preprocessing(self.spec.input.height, self.spec.input.width, 1, mean, std)


def _resumable(state: dict[str, Any]) -> Resumable:
    return Resumable(state["optimizer"], state["scheduler"], state["rng"], state["scaler"])


def _stored_spec(state: dict[str, Any], path: Path | str) -> ResNetSpec:
    try:
        stored = spec_from_text(str(state["spec_text"]), f"{path} (stored spec)")
    except ArchspecError as err:  # a stored spec the current schema rejects
        raise CheckpointError(f"{path}: stored spec no longer validates: {err}") from None
    if spec_hash(stored) != state["spec_hash"]:
        raise CheckpointError(f"{path}: stored spec hash {state['spec_hash']} does not match its own text (edited?)")
    return stored


def _preprocessing(value: Any, spec: ResNetSpec, path: Path | str) -> Preprocessing | None:
    if value is None:
        return None
    prep = Preprocessing.from_dict(value, f"{path}: malformed checkpoint: preprocess", CheckpointError)
    size, expected = (prep.channels, prep.height, prep.width), (spec.input.channels, spec.input.height,
                                                                 spec.input.width)  # fmt: skip
    if size != expected:
        raise CheckpointError(f"{path}: malformed checkpoint: preprocess channels, height, width {size} are not "
                              f"the stored spec's {expected}")  # fmt: skip
    return prep


def _malformed(state: dict[str, Any]) -> str | None:
    """What is wrong with the types and shapes of a (migrated) checkpoint's parts, or None."""
    epoch = state["epoch"]
    if type(epoch) is not int or not 0 <= epoch <= MAX_EPOCH:  # 0: imported weights (archspec weights import)
        return f"epoch must be a whole number from 0 to {MAX_EPOCH:,}, got {clip(repr(epoch))}"
    texts = (
        "spec_text",
        "spec_hash",
        "recipe_text",
        "dataset",
        "archspec",
        *((CHECKSUM,) if CHECKSUM in state else ()),
    )
    for key in texts:
        if not isinstance(state[key], str):
            return f"{key} must be text, got {type(state[key]).__name__}"
    model = state["model"]
    if (
        not isinstance(model, dict)
        or not model
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items())
    ):
        return "model must be a mapping of parameter names to tensors"
    classes = state["classes"]
    if classes is not None and not (isinstance(classes, list | tuple) and all(isinstance(c, str) for c in classes)):
        return "classes must be a list of class names"
    imported = state["imported"]
    if imported is not None and not (isinstance(imported, dict) and all(isinstance(v, str) for v in imported.values())):
        return "imported must be a mapping of text"
    if _untrained(state):
        return None
    return _training_malformed(state, epoch)


def _untrained(state: dict[str, Any]) -> bool:
    """Imported weights (archspec weights import): nothing trained, nothing to resume."""
    return bool(state["epoch"] == 0 and state["optimizer"] == {} and state["scheduler"] == {} and state["rng"] == {})


def _training_malformed(state: dict[str, Any], epoch: int) -> str | None:
    optimizer = state["optimizer"]
    groups = optimizer.get("param_groups") if isinstance(optimizer, dict) else None
    if not (isinstance(optimizer, dict) and isinstance(optimizer.get("state"), dict) and isinstance(groups, list)
            and all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups)):  # fmt: skip
        return "optimizer must be an optimizer state dict (state, param_groups with params)"
    for key in ("scheduler", "scaler"):
        if not isinstance(state[key], dict):
            return f"{key} must be a state dict (a mapping), got {type(state[key]).__name__}"
    rng = state["rng"]
    size = torch.get_rng_state().numel()
    if not (isinstance(rng, dict) and _byte_tensor(rng.get("torch"), size)
            and all(_byte_tensor(value) for value in rng.values())):  # fmt: skip
        return f"rng must hold the torch generator state (a uint8 tensor of {size} bytes)"
    metrics = state["metrics"]
    if not isinstance(metrics, list) or not all(
        isinstance(row, dict) and all(isinstance(k, str) and _finite(v) for k, v in row.items()) for row in metrics
    ):
        return "metrics must be a list of rows of numbers"
    if metrics and len(metrics) != epoch:
        return f"metrics has {len(metrics)} rows for {epoch} epochs"
    for index, row in enumerate(metrics):
        lacking = [column for column in COLUMNS if column not in row]
        if lacking:
            return f"metrics[{index}] lacks {', '.join(lacking)}"
    return None


def _byte_tensor(value: Any, size: int | None = None) -> bool:
    ok = isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 1
    return ok and (size is None or value.numel() == size)


def _finite(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    checkpoint.save(path)


def load_checkpoint(path: Path) -> Checkpoint:
    return Checkpoint.load(path)


def checkpoint_file(path: str | Path) -> Path:
    """A checkpoint file as given, or a run folder's best checkpoint."""
    try:
        return RunDir.checkpoint_of(Path(path))
    except OSError:  # a name over 255 bytes: load_checkpoint says so
        return Path(path)


def checkpoint_spec(
    checkpoint: Checkpoint, path: Path, spec: ResNetSpec | None = None, limits: Limits | None = None
) -> ResNetSpec:
    """The spec a checkpoint was trained with; refuses a checkpoint whose hash does not match `spec`, whose
    stored spec is over `limits` (default: ARCHSPEC_MAX_* or the defaults), or whose weights do not have
    the names and shapes of that spec's model (checked on torch's meta device: nothing allocated)."""
    stored = checkpoint.spec
    if spec is not None and spec_hash(spec) != spec_hash(stored):
        raise CheckpointError(
            f"{path}: checkpoint is for spec hash {spec_hash(stored)} ({stored.name}), "
            f"but the spec given is {spec_hash(spec)} ({spec.name}); refusing to load mismatched weights"
        )
    try:
        check_spec(stored, limits, Workload(), flags=limits is not None)
    except ArchspecError as err:
        raise CheckpointError(f"{path}: stored spec: {err}") from None
    with torch.device("meta"):
        expected = build(stored).state_dict()
    problem = weights_mismatch(checkpoint.model, expected)
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
    path: str | Path, checkpoint: Checkpoint | None = None, limits: Limits | None = None
) -> tuple[nn.Module, ResNetSpec]:
    """The model a checkpoint (a file, or a run folder: its best checkpoint) holds, built from its stored
    spec, with its weights loaded (eval mode)."""
    path = checkpoint_file(path)
    checkpoint = checkpoint if checkpoint is not None else load_checkpoint(path)
    spec = checkpoint_spec(checkpoint, path, limits=limits)
    model = build(spec)
    try:
        model.load_state_dict(checkpoint.model)
    except (RuntimeError, KeyError) as err:  # checkpoint_spec compared names and shapes: a last resort
        raise CheckpointError(f"{path}: weights do not fit the stored spec: {clip(str(err), 200)}") from None
    return model.eval(), spec
