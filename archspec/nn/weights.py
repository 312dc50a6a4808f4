"""Weights in and out of archspec models, in any layout (archspec.nn.layouts): `archspec.weights`.

    spec = archspec.load_spec("resnet50")
    model = archspec.build(spec)
    report = archspec.weights.load(model, archspec.weights.read_state_dict("resnet50.pth"), spec,
                                   layout="torchvision")
    archspec.weights.save_state_dict(archspec.weights.export(model, spec, "torchvision"), "out.safetensors")

Files are read with `torch.load(weights_only=True)` (a pickle that would run code is refused) or as
`.safetensors`. Every problem is a one-line CheckpointError naming the file and the first tensor at fault.
"""

from __future__ import annotations

import io
import math
import pickle
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from archspec.arch.plan import lower
from archspec.arch.primitives import Conv, Linear
from archspec.config.files import write_atomic
from archspec.errors import CheckpointError
from archspec.nn.layouts import NATIVE, KeyMap, key_map
from archspec.spec.schema import ResNetSpec

Status = Literal["loaded", "adapted", "missing"]
CONTAINERS = ("state_dict", "model")  # where training checkpoints (timm, Lightning, archspec) keep the weights


@dataclass(frozen=True)
class Entry:
    """One tensor of the archspec model and what loading did to it."""

    name: str
    source: str | None  # its name in the state dict; None where the layout has no counterpart
    shape: tuple[int, ...]
    source_shape: tuple[int, ...] | None  # None where the state dict has no such tensor
    status: Status  # missing: kept the model's own initialisation (a new tensor)
    note: str = ""


@dataclass(frozen=True)
class LoadReport:
    layout: str
    entries: tuple[Entry, ...]  # every tensor of the model, in the layout's order
    skipped: tuple[str, ...]  # tensors of the state dict that went nowhere

    def names(self, status: Status) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.entries if entry.status == status)

    @property
    def loaded(self) -> tuple[str, ...]:
        return self.names("loaded")

    @property
    def adapted(self) -> tuple[str, ...]:
        return self.names("adapted")

    @property
    def missing(self) -> tuple[str, ...]:
        return self.names("missing")


# --- reading and writing files ------------------------------------------------------------------


def read_file(path: Path, what: str = "torch.save file") -> Any:
    """What a weights file holds: a `.safetensors` file's tensors, or a `torch.save` file's object (weights only).

    `what` names the kind of file in the error of an unreadable one ("checkpoint", say).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{path}: not a readable safetensors file (truncated?): {_short(err)}") from None
    _check_magic(path, what)
    try:
        with warnings.catch_warnings():  # a corrupt file's "pickle protocol 51" notes; our one line says it all
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # the weights-only unpickler fed arbitrary bytes raises IndexError, KeyError, ...
        reason = _reason(err)
        if isinstance(err, pickle.UnpicklingError) and "GLOBAL" in reason:
            raise CheckpointError(
                f"{path}: refused: unpickling it would run code or build objects other than tensors ({reason}); "
                "weights files are read weights-only"
            ) from None
        raise CheckpointError(f"{path}: not a readable {what} (truncated or corrupt?): {reason}") from None


def _reason(err: BaseException) -> str:
    """The cause in torch's weights-only message, without its advice to pass weights_only=False (never to follow)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if lines and lines[0].startswith("Weights only load failed"):
        advice = ("Weights only load failed", "Please file an issue", "Check the documentation")
        lines = [line for line in lines if not line.startswith(advice)] or ["weights-only unpickling failed"]
    return _short(" ".join(lines))


def _check_magic(path: Path, what: str) -> None:
    """torch.save writes a zip archive (or, in its legacy format, a pickle); anything else is another kind of file,
    which torch would report as 'Unsupported operand 35'."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read: {err.strerror}") from None
    if not head:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a {what}")
    if head.startswith((b"PK\x03\x04", b"\x80")):
        return  # a truncated archive gets torch's own reason below
    kind = "a text file" if all(32 <= b < 127 or b in (9, 10, 13) for b in head) else "another kind of file"
    raise CheckpointError(f"{path}: not a {what}: {kind}, not what torch.save writes (nor .safetensors)")


def _short(err: BaseException | str) -> str:
    """The first sentence of a library's message, on one line and at most 200 characters."""
    text = " ".join(str(err).split())
    first = text.split(". ", 1)[0].rstrip(".")
    return first if len(first) <= 200 else first[:199] + "…"


def as_state_dict(obj: Any, source: str | Path) -> dict[str, torch.Tensor]:
    """`obj` as a flat {name: tensor} state dict: itself, or its `state_dict` / `model` entry; `module.` stripped."""
    if isinstance(obj, Mapping) and not _is_flat(obj):
        for key in CONTAINERS:
            if isinstance(obj.get(key), Mapping) and _is_flat(obj[key]):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        what = "an empty mapping" if isinstance(obj, Mapping) else f"a {type(obj).__name__}"
        raise CheckpointError(f"{source}: not a state dict (a mapping of tensor names to tensors): holds {what}")
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{source}: not a state dict (a mapping of tensor names to tensors): entry {str(key)[:80]!r} "
                f"is a {type(value).__name__}"
            )
    state = dict(obj)
    if all(key.startswith("module.") for key in state):  # saved from a DistributedDataParallel wrapper
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return state


def _is_flat(obj: Mapping[Any, Any]) -> bool:
    return bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in a `torch.save` or `.safetensors` file (a training checkpoint's weights too)."""
    return as_state_dict(read_file(Path(path)), path)


def save_state_dict(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Write `state` atomically: `.safetensors` by suffix, else `torch.save`'s format."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import save

        data = save({key: value.contiguous() for key, value in state.items()})
    else:
        buffer = io.BytesIO()
        torch.save(dict(state), buffer)
        data = buffer.getvalue()
    write_atomic(path, data, CheckpointError)


# --- loading into a model and exporting from it ------------------------------------------------


def load(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    spec: ResNetSpec,
    layout: str = NATIVE,
    *,
    strict: bool = False,
    adapt: bool = False,
    source: str = "state dict",
) -> LoadReport:
    """Copy the tensors of `state_dict` (named as `layout` names them) into `model`, built from `spec`.

    Every tensor found under its name is shape-checked; the first mismatch is a CheckpointError and the
    model is left untouched. `strict`: every module must have a counterpart and every tensor of both
    sides must be used (an exact conversion). `adapt` (fine-tuning): a first conv with other input
    channels is adapted (`adapt_input_conv`) and a classifier with another class count keeps its own
    initialisation. A state dict of which nothing loads is refused in every mode.
    """
    report, values = match(model.state_dict(), state_dict, spec, layout, strict=strict, adapt=adapt, source=source)
    copy_into(model, values)
    return report


def match(
    target: Mapping[str, Any],
    state_dict: Mapping[str, torch.Tensor],
    spec: ResNetSpec,
    layout: str = NATIVE,
    *,
    strict: bool = False,
    adapt: bool = False,
    source: str = "state dict",
) -> tuple[LoadReport, dict[str, torch.Tensor]]:
    """What `load` would do, without a model: the report and the tensors to copy, by archspec name.

    `target` needs only shapes (a meta-device model's state dict will do).
    """
    keys = key_map(spec, target, layout)
    if strict:
        keys.require_complete()
    first_conv, classifier = _first_conv(spec), _classifier(spec)
    entries: list[Entry] = []
    values: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for pair in keys.pairs:
        tensor = state_dict.get(pair.reference)
        if tensor is None:
            entries.append(Entry(pair.name, pair.reference, pair.shape, None, "missing", "not in the file"))
            continue
        used.add(pair.reference)
        got = tuple(tensor.shape)
        if got == pair.reference_shape:
            values[pair.name] = tensor.reshape(pair.shape)
            entries.append(Entry(pair.name, pair.reference, pair.shape, got, "loaded"))
        elif adapt and pair.name == first_conv and _same_but_inputs(got, pair.shape):
            values[pair.name] = adapt_input_conv(tensor, pair.shape[1])
            note = f"input channels {got[1]} -> {pair.shape[1]}"
            entries.append(Entry(pair.name, pair.reference, pair.shape, got, "adapted", note))
        elif adapt and pair.name in classifier and got[1:] == pair.reference_shape[1:]:
            note = f"{got[0]} classes there, {pair.shape[0]} in {spec.name}: re-initialised"
            entries.append(Entry(pair.name, pair.reference, pair.shape, got, "missing", note))
        else:
            raise CheckpointError(
                f"{source}: {pair.reference} has shape {_shape(got)}, but {spec.name} needs "
                f"{_shape(pair.reference_shape)} there ({pair.name}, {keys.layout} layout)"
            )
    for name in keys.unmatched_tensors:
        entries.append(Entry(name, None, tuple(target[name].shape), None, "missing", "no counterpart in the layout"))
    report = LoadReport(keys.layout, tuple(entries), tuple(key for key in state_dict if key not in used))
    _check(report, keys, spec, source, strict)
    return report, values


def _check(report: LoadReport, keys: KeyMap, spec: ResNetSpec, source: str, strict: bool) -> None:
    if not report.loaded and not report.adapted:
        first = next(iter(report.skipped), "")
        raise CheckpointError(
            f"{source}: no tensor fits {spec.name} in the {keys.layout} layout (first tensor {first!r}); "
            "a state dict of another architecture, or another --layout?"
        )
    if not strict:
        return
    for entry in report.entries:  # torch adds num_batches_tracked after 2018; older files lack it
        if entry.status == "missing" and not entry.name.endswith("num_batches_tracked"):
            raise CheckpointError(f"{source}: lacks {entry.source} ({entry.name} of {spec.name}, {keys.layout} layout)")
    if report.skipped:
        raise CheckpointError(
            f"{source}: {report.skipped[0]} has no place in {spec.name} under the {keys.layout} layout "
            f"({len(report.skipped)} such tensors); a state dict of another architecture?"
        )


def copy_into(model: nn.Module, values: Mapping[str, torch.Tensor]) -> None:
    """Copy `values` (archspec names) into the model's parameters and buffers, cast to their dtype."""
    state = model.state_dict()
    with torch.no_grad():
        for name, value in values.items():
            state[name].copy_(value)


def export(model: nn.Module, spec: ResNetSpec, layout: str) -> dict[str, torch.Tensor]:
    """The model's state dict under `layout`'s names and shapes, in the reference's order.

    LayoutError (one line, naming the first module without a counterpart) when the layout cannot hold it.
    """
    state = model.state_dict()
    keys = key_map(spec, state, layout).require_complete()
    return {pair.reference: state[pair.name].detach().reshape(pair.reference_shape) for pair in keys.pairs}


def adapt_input_conv(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """A first-conv weight (out, in, k, k) for `channels` input channels, as timm's `adapt_input_conv`.

    To one channel: the sum over the input channels (a grey image seen as equal R, G and B gives the same
    response). To more: the channels repeated and scaled by in / channels (a grey image copied into every
    channel gives the same response as before).
    """
    source = weight.shape[1]
    if channels == 1:
        return weight.sum(1, keepdim=True)
    repeat = math.ceil(channels / source)
    return weight.repeat(1, repeat, 1, 1)[:, :channels] * (source / channels)


def _first_conv(spec: ResNetSpec) -> str:
    return next(f"stem.{layer.name}.weight" for layer in lower(spec).stem if isinstance(layer.op, Conv))


def _classifier(spec: ResNetSpec) -> set[str]:
    fc = next(layer for layer in reversed(lower(spec).head) if isinstance(layer.op, Linear))
    return {f"head.{fc.name}.weight", f"head.{fc.name}.bias"}


def _same_but_inputs(got: tuple[int, ...], want: tuple[int, ...]) -> bool:
    """Two conv weight shapes that differ at most in their input channels."""
    return len(got) == len(want) == 4 and got[:1] + got[2:] == want[:1] + want[2:]


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


__all__ = [
    "Entry",
    "LoadReport",
    "adapt_input_conv",
    "as_state_dict",
    "copy_into",
    "export",
    "load",
    "match",
    "read_file",
    "read_state_dict",
    "save_state_dict",
]
