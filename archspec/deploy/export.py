"""Export a built model to the formats serving tools read: TorchScript, torch.export, ONNX.

Every export carries the canonical spec text and its hash (as extra files, or ONNX metadata),
takes any batch size, and is written atomically (a temp file, then os.replace).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from archspec.arch.validate import load_spec, with_input
from archspec.deploy.metadata import HASH_KEY, SPEC_KEY
from archspec.deploy.runtimes import load_onnx, refuse_onnx_source
from archspec.errors import ArchspecError
from archspec.nn.build import build
from archspec.spec.io import dump_spec, spec_hash
from archspec.spec.schema import ResNetSpec
from archspec.train.checkpoint import checkpoint_file, checkpoint_model

Format = Literal["onnx", "torchscript", "exported-program"]
FORMATS: tuple[Format, ...] = ("onnx", "torchscript", "exported-program")


SUFFIXES: dict[Format, str] = {"onnx": ".onnx", "torchscript": ".ts", "exported-program": ".pt2"}
TOLERANCE = 1e-4  # fp32 re-association in another runtime; logits are O(1)


class ExportError(ArchspecError):
    """An export that cannot be written (a missing optional dependency, an unwritable path)."""


@dataclass(frozen=True)
class Exported:
    path: Path
    format: Format
    source: str  # where the weights came from, in words
    error: float  # largest |export - eager| on the verification batches


def is_checkpoint(source: str | Path) -> bool:
    """Whether `source` names a checkpoint file or a run folder rather than a spec."""
    path = Path(source)
    return path.suffix == ".pt" or (path.is_dir() and (path / "checkpoints").is_dir())


def export_source(
    source: str | Path, fmt: Format, out: Path | None = None, sets: Sequence[str] = (),
    input_size: tuple[int, int, int] | None = None,
) -> Exported:  # fmt: skip
    """Export a spec (random weights), a checkpoint or a run folder (its best checkpoint) and verify it.

    The export is checked against the eager model on batches of 1 and 3; one that differs by more than
    TOLERANCE, or fails to load back, is removed, so no unchecked file is ever left behind.
    """
    if Path(source).suffix == ".onnx":
        refuse_onnx_source(Path(source))  # an export or an int8 model is not a source of exports
    if is_checkpoint(source):
        if sets or input_size:
            raise ArchspecError(f"{source}: a checkpoint's spec is fixed; --set and --input-size apply to specs")
        model, spec = checkpoint_model(checkpoint_file(Path(source)))
        origin = f"weights of {source}"
    else:
        spec = load_spec(source, sets)
        spec = with_input(spec, *input_size) if input_size else spec
        model = build(spec)
        origin = "random weights (a spec, not a checkpoint)"
    target = out or Path(f"{spec.name}{SUFFIXES[fmt]}")
    export(model, spec, fmt, target)
    try:
        error = verify(model, spec, target, fmt)
        if error > TOLERANCE:
            raise ExportError(f"{target}: export differs from the eager model by {error:.2e} (> {TOLERANCE}); removed")
    except BaseException:
        target.unlink(missing_ok=True)  # never leave an unchecked export behind
        raise
    return Exported(target, fmt, origin, error)


def export(model: nn.Module, spec: ResNetSpec, fmt: Format, out: Path) -> Path:
    """Write `model` (made from `spec`) to `out` in format `fmt`; returns `out`."""
    if fmt == "exported-program" and out.suffix != ".pt2":
        raise ExportError(f"{out}: torch.export archives must be named *.pt2 (torch.export.load refuses others)")
    writer = _WRITERS[fmt]
    model = model.eval()
    example = torch.randn(2, spec.input.channels, spec.input.height, spec.input.width)
    meta = {SPEC_KEY: dump_spec(spec), HASH_KEY: spec_hash(spec)}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        # same suffix as the target: torch.export.save insists on .pt2
        handle, temp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)
    except OSError as err:
        raise ExportError(f"{out}: cannot write here: {err.strerror or err}") from None
    os.close(handle)
    try:
        with torch.no_grad():
            writer(model, example, meta, Path(temp))
        os.replace(temp, out)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return out


def _torchscript(model: nn.Module, example: torch.Tensor, meta: dict[str, str], path: Path) -> None:
    # Tracing records conv nets without batch-size specialisation: any batch size runs.
    scripted = torch.jit.trace(model, example)  # type: ignore[no-untyped-call]
    torch.jit.save(scripted, str(path), _extra_files=meta)


def _exported_program(model: nn.Module, example: torch.Tensor, meta: dict[str, str], path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path), extra_files=meta)


def _onnx(model: nn.Module, example: torch.Tensor, meta: dict[str, str], path: Path) -> None:
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
    onnx.save(proto, str(path))


_WRITERS: dict[str, Callable[[nn.Module, torch.Tensor, dict[str, str], Path], None]] = {
    "onnx": _onnx,
    "torchscript": _torchscript,
    "exported-program": _exported_program,
}


def load_exported(path: Path, fmt: Format) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict[str, str]]:
    """Load an export back: (a callable on image batches, the embedded spec metadata)."""
    if fmt == "torchscript":
        files = dict.fromkeys((SPEC_KEY, HASH_KEY), "")
        module = torch.jit.load(str(path), _extra_files=files)  # type: ignore[no-untyped-call]
        return module, {key: _text(value) for key, value in files.items()}
    if fmt == "exported-program":
        files = dict.fromkeys((SPEC_KEY, HASH_KEY), "")
        program = torch.export.load(str(path), extra_files=files)
        return program.module(), {key: _text(value) for key, value in files.items()}
    runtime = load_onnx(path, check=False)  # a spec export has no class names: check only the hash (verify)
    return runtime, runtime.metadata


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def verify(model: nn.Module, spec: ResNetSpec, path: Path, fmt: Format, batches: tuple[int, ...] = (1, 3)) -> float:
    """Largest absolute difference between the export and the eager model on random batches."""
    run, meta = load_exported(path, fmt)
    if meta.get(HASH_KEY) != spec_hash(spec):
        raise ExportError(f"{path}: embedded spec hash {meta.get(HASH_KEY)!r} is not the model's {spec_hash(spec)}")
    worst = 0.0
    generator = torch.Generator().manual_seed(0)
    model = model.eval()
    for batch in batches:
        x = torch.randn(batch, spec.input.channels, spec.input.height, spec.input.width, generator=generator)
        with torch.no_grad():
            worst = max(worst, (run(x) - model(x)).abs().max().item())
    return worst
