"""Export a built model to the formats serving tools read: TorchScript, torch.export, ONNX.

Every export carries, as extra files (TorchScript, torch.export) or ONNX metadata_props, the canonical
spec text and its hash, the class names in label order (`archspec_classes`, a JSON list) and the input
preprocessing (`archspec_preprocess`, a JSON object: height, width, channels, channel_order, scale, mean,
std; input = ((uint8 pixels * scale) - mean) / std, NCHW float32, input "images", output "logits"), so
the file can be used without archspec. It takes any batch size. It is made and verified in memory, then
written atomically (archspec.config.files write_atomic), so a failed or interrupted export leaves no file
behind, and the output path must be a new path or a regular file that is not the export's own source.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from archspec.arch.guard import Limits, Workload, check_spec
from archspec.arch.validate import load_spec, with_input
from archspec.artifacts.checkpoint import checkpoint_file, checkpoint_model, load_checkpoint
from archspec.artifacts.metadata import HASH_KEY, KEYS, ModelMetadata
from archspec.artifacts.rundir import RunDir
from archspec.config.diagnostics import clip
from archspec.config.files import write_atomic
from archspec.config.sources import classify, resolve_source
from archspec.data.preprocess import Preprocessing
from archspec.deploy.runtimes import import_onnxruntime, refuse_onnx_source
from archspec.errors import ArchspecError
from archspec.nn.build import build
from archspec.spec.io import spec_hash
from archspec.spec.presets import preset_dir
from archspec.spec.schema import ResNetSpec

Format = Literal["onnx", "torchscript", "exported-program"]
FORMATS: tuple[Format, ...] = ("onnx", "torchscript", "exported-program")
META_KEYS = KEYS  # the export metadata contract: archspec/artifacts/metadata.py


SUFFIXES: dict[Format, str] = {"onnx": ".onnx", "torchscript": ".ts", "exported-program": ".pt2"}
TOLERANCE = 1e-4  # fp32 re-association in another runtime; logits are O(1)
VERIFY_BATCHES = (1, 3)


class ExportError(ArchspecError):
    """An export that cannot be written (a missing optional dependency, an unwritable path)."""


@dataclass(frozen=True)
class Exported:
    path: Path
    format: Format
    source: str  # where the weights came from, in words
    error: float  # largest |export - eager| on the verification batches


def is_checkpoint(source: str | Path) -> bool:
    """Whether `source` names a checkpoint file or a run folder rather than a spec (config.sources.classify)."""
    return classify(source, preset_dir(), is_run=RunDir.is_run).is_checkpoint


def export_source(
    source: str | Path, fmt: Format, out: Path | None = None, sets: Sequence[str] = (),
    input_size: tuple[int, int, int] | None = None, limits: Limits | None = None,
) -> Exported:  # fmt: skip
    """Export a spec (random weights), a checkpoint or a run folder (its best checkpoint) and verify it.

    The export is checked against the eager model on batches of 1 and 3 before it is written; one that
    differs by more than TOLERANCE, or fails to load back, is never written. `limits` (archspec.arch.guard)
    refuse a spec too large to build, before it is built.
    """
    if Path(source).suffix == ".onnx":
        refuse_onnx_source(Path(source))  # an export or an int8 model is not a source of exports
    if is_checkpoint(source):
        if sets or input_size:
            raise ArchspecError(f"{source}: a checkpoint's spec is fixed; --set and --input-size apply to specs")
        inputs = [checkpoint_file(Path(source))]
        checkpoint = load_checkpoint(inputs[0])
        model, spec = checkpoint_model(inputs[0], checkpoint, limits=limits)
        classes, preprocessing = checkpoint.labels()
        origin = f"weights of {source}"
    else:
        spec = load_spec(source, sets)
        spec = with_input(spec, *input_size) if input_size else spec
        check_spec(spec, limits, Workload(VERIFY_BATCHES[-1]))
        found = resolve_source(source, preset_dir(), "spec")
        inputs = [found] if found is not None else []
        model = build(spec)
        classes, preprocessing = None, None
        origin = "random weights (a spec, not a checkpoint)"
    target = out or Path(f"{spec.name}{SUFFIXES[fmt]}")
    check_target(target, inputs)
    data = serialize(model, spec, fmt, target, classes=classes, preprocessing=preprocessing)
    error = verify(model, spec, data, fmt)
    if error > TOLERANCE:
        raise ExportError(f"{target}: export differs from the eager model by {error:.2e} (> {TOLERANCE}); not written")
    write_atomic(target, data, ExportError)
    return Exported(target, fmt, origin, error)


def check_target(out: Path, sources: Sequence[Path] = ()) -> None:
    """Refuse an output path that is not a new path or a regular file, or that is one of `sources`."""
    try:
        mode = os.lstat(out).st_mode
    except FileNotFoundError:
        return
    except OSError as err:  # a name over 255 bytes, a parent that is a file
        raise ExportError(f"{clip(str(out), 200)}: cannot write here: {err.strerror or err}") from None
    if stat.S_ISLNK(mode):
        raise ExportError(f"{out}: is a symbolic link; name the file itself (refusing to write through a link)")
    if stat.S_ISDIR(mode):
        raise ExportError(f"{out}: is a folder; name the file to write, such as {out / 'model'}.onnx")
    if not stat.S_ISREG(mode):
        raise ExportError(f"{out}: is not a regular file (a device, FIFO or socket); refusing to write over it")
    for source in sources:
        try:
            same = os.path.samefile(out, source)
        except OSError:
            same = False
        if same:
            raise ExportError(f"{out}: is the export's own source; name another output file")


def export(
    model: nn.Module,
    spec: ResNetSpec,
    fmt: Format,
    out: Path,
    *,
    classes: Sequence[str] | None = None,
    preprocessing: Preprocessing | None = None,
) -> Path:
    """Write `model` (made from `spec`) to `out` in format `fmt`, atomically; returns `out`.

    `classes` and `preprocessing` are what a trained model was trained with (Checkpoint.labels); without
    them an export of random weights names its classes "0", "1", ... and takes pixels / 255 unnormalised.
    """
    check_target(out)
    write_atomic(out, serialize(model, spec, fmt, out, classes=classes, preprocessing=preprocessing), ExportError)
    return out


def serialize(
    model: nn.Module,
    spec: ResNetSpec,
    fmt: Format,
    out: Path | None = None,
    *,
    classes: Sequence[str] | None = None,
    preprocessing: Preprocessing | None = None,
) -> bytes:
    """The export of `model` (made from `spec`) in format `fmt`, in memory (`out`: the name it will have)."""
    if fmt == "exported-program" and out is not None and out.suffix != ".pt2":
        raise ExportError(f"{out}: torch.export archives must be named *.pt2 (torch.export.load refuses others)")
    writer = _WRITERS[fmt]
    model = model.eval()
    example = torch.randn(2, spec.input.channels, spec.input.height, spec.input.width)
    meta = labels_metadata(spec, classes, preprocessing).as_strings()
    buffer = io.BytesIO()
    with torch.no_grad():
        writer(model, example, meta, buffer)
    return buffer.getvalue()


def labels_metadata(
    spec: ResNetSpec, classes: Sequence[str] | None, preprocessing: Preprocessing | None
) -> ModelMetadata:
    """An export's metadata: the spec, and the class names and preprocessing (numbered classes and no
    normalisation for a spec's random weights)."""
    c, h, w = spec.input.channels, spec.input.height, spec.input.width
    names = tuple(classes) if classes is not None else tuple(str(i) for i in range(spec.head.num_classes))
    prep = preprocessing or Preprocessing(h, w, c, (0.0,) * c, (1.0,) * c)
    return ModelMetadata(spec, names, prep.to_dict())


def _torchscript(model: nn.Module, example: torch.Tensor, meta: dict[str, str], path: io.BytesIO) -> None:
    # Tracing records conv nets without batch-size specialisation: any batch size runs.
    scripted = torch.jit.trace(model, example)  # type: ignore[no-untyped-call]
    torch.jit.save(scripted, path, _extra_files=meta)


def _exported_program(model: nn.Module, example: torch.Tensor, meta: dict[str, str], path: io.BytesIO) -> None:
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, path, extra_files=meta)


def _onnx(model: nn.Module, example: torch.Tensor, meta: dict[str, str], path: io.BytesIO) -> None:
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx and onnxscript packages: pip install 'archspec[onnx]'") from None
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes
    batch = torch.export.Dim("batch", min=1, max=65536)
    with warnings.catch_warnings():  # deprecation notes from inside the exporter, not about this model
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (example,), input_names=["images"], output_names=["logits"],
            dynamic_shapes=({0: batch},), dynamo=True, verbose=False,
        )  # fmt: skip
    assert program is not None
    proto = program.model_proto
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, path)


_WRITERS: dict[str, Callable[[nn.Module, torch.Tensor, dict[str, str], io.BytesIO], None]] = {
    "onnx": _onnx,
    "torchscript": _torchscript,
    "exported-program": _exported_program,
}


def load_exported(exported: Path | bytes, fmt: Format) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict[str, str]]:
    """Load an export back (a file, or its bytes): (a callable on image batches, the embedded metadata; absent
    keys map to "")."""
    data = exported if isinstance(exported, bytes) else exported.read_bytes()
    if fmt == "torchscript":
        files = dict.fromkeys(META_KEYS, "")
        module = torch.jit.load(io.BytesIO(data), _extra_files=files)  # type: ignore[no-untyped-call]
        return module, {key: _text(value) for key, value in files.items()}
    if fmt == "exported-program":
        files = dict.fromkeys(META_KEYS, "")
        program = torch.export.load(io.BytesIO(data), extra_files=files)
        return program.module(), {key: _text(value) for key, value in files.items()}
    import onnx

    onnxruntime = import_onnxruntime()  # a one-line error naming archspec[onnx] when it is missing

    meta = {p.key: p.value for p in onnx.load_model_from_string(data).metadata_props}
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(["logits"], {"images": x.numpy()})[0])

    return run, meta


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def verify(model: nn.Module, spec: ResNetSpec, exported: Path | bytes, fmt: Format,
           batches: tuple[int, ...] = VERIFY_BATCHES) -> float:  # fmt: skip
    """Largest absolute difference between the export (a file, or its bytes) and the eager model on random
    batches."""
    run, meta = load_exported(exported, fmt)
    if meta.get(HASH_KEY) != spec_hash(spec):
        where = exported if isinstance(exported, Path) else fmt
        raise ExportError(f"{where}: embedded spec hash {meta.get(HASH_KEY)!r} is not the model's {spec_hash(spec)}")
    worst = 0.0
    generator = torch.Generator().manual_seed(0)
    model = model.eval()
    for batch in batches:
        x = torch.randn(batch, spec.input.channels, spec.input.height, spec.input.width, generator=generator)
        with torch.no_grad():
            worst = max(worst, (run(x) - model(x)).abs().max().item())
    return worst
