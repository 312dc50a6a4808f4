"""Class predictions for image files, from a checkpoint, a run folder or an export (.ts, .pt2, .onnx).

Images are prepared from the model's stored metadata alone (`archspec_preprocess` in an export,
"preprocess" in a checkpoint): decoded with Pillow exactly as training decodes a folder dataset (to
grayscale or RGB, bilinear resize to the input size), then ((pixels * scale) - mean) / std. The class
names come from the same place. An export without that metadata is refused, never guessed at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from archspec.artifacts.checkpoint import checkpoint_file, checkpoint_model, load_checkpoint
from archspec.artifacts.metadata import parse_metadata
from archspec.artifacts.rundir import RunDir
from archspec.data.folder import list_images
from archspec.data.images import decode_image
from archspec.data.preprocess import Preprocessing
from archspec.deploy.export import load_exported
from archspec.deploy.runtimes import load_onnx
from archspec.errors import ArchspecError, DataError
from archspec.runtime import resolve_device

EXPORTS = {".ts": "torchscript", ".pt2": "exported-program", ".onnx": "onnx"}
Run = Callable[[torch.Tensor], torch.Tensor]


class PredictError(ArchspecError):
    """A model file predict cannot use (unknown kind, missing metadata, missing runtime)."""


@dataclass(frozen=True)
class Prediction:
    path: Path
    top: tuple[tuple[str, float], ...]  # (class name, probability), most probable first


@dataclass(frozen=True)
class Predictor:
    """A model that maps a float NCHW batch to logits, with its class names and input preprocessing."""

    run: Run
    classes: tuple[str, ...]
    preprocessing: Preprocessing
    source: str  # what was loaded, in words


def load_predictor(source: Path | str, device_name: str | None = None) -> Predictor:
    """A checkpoint (.pt), a run folder (its best.pt), or an export (.ts, .pt2, .onnx)."""
    path = Path(source)
    if path.is_dir() and not RunDir.is_run(path):
        raise PredictError(f"{path}: a folder, but not a run folder (no checkpoints/ in it)")
    if not path.exists():
        raise PredictError(f"{path}: no such checkpoint, run folder or export")
    if path.is_dir() or path.suffix == ".pt":
        return _from_checkpoint(checkpoint_file(path), device_name)
    if path.suffix not in EXPORTS:
        raise PredictError(f"{path}: not a checkpoint (.pt), run folder or export ({', '.join(EXPORTS)})")
    if device_name is not None and resolve_device(device_name).type != "cpu":
        raise PredictError(f"--device {device_name}: exports run on the CPU here; predict from the checkpoint instead")
    if path.suffix == ".onnx":
        return _from_onnx(path)
    try:
        run, meta = load_exported(path, EXPORTS[path.suffix])  # type: ignore[arg-type]
    except ArchspecError:
        raise
    except Exception as err:  # torch's loaders raise RuntimeError, zipfile errors, ... on foreign files
        reason = " ".join(str(err).split())[:160]
        raise PredictError(f"{path}: not a readable {EXPORTS[path.suffix]} file ({reason})") from None
    classes, preprocessing = _labels(meta, path)
    return Predictor(run, classes, preprocessing, f"{path} ({EXPORTS[path.suffix]})")


def _from_checkpoint(path: Path, device_name: str | None) -> Predictor:
    device = resolve_device(device_name)
    checkpoint = load_checkpoint(path)
    model, _ = checkpoint_model(path, checkpoint)
    classes, preprocessing = checkpoint.labels()
    model.to(device)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out: torch.Tensor = model(x.to(device))
        return out.float().cpu()

    return Predictor(run, classes, preprocessing, f"{path} (checkpoint, on {device})")


def _from_onnx(path: Path) -> Predictor:
    runtime = load_onnx(path)  # checks the metadata contract and the input/output names
    classes, preprocessing = _labels(runtime.metadata, path)
    return Predictor(runtime, classes, preprocessing, f"{path} (onnx)")


def _labels(meta: dict[str, str], path: Path) -> tuple[tuple[str, ...], Preprocessing]:
    """Class names and preprocessing from an export's metadata, read by the one contract reader."""
    checked = parse_metadata(meta, str(path))
    return checked.classes, Preprocessing.from_dict(checked.preprocess, str(path), PredictError)


def image_files(inputs: Sequence[Path | str]) -> list[Path]:
    """The images to predict: files as given, and each folder's images (recursively, in path order)."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = [path for path, _ in list_images(item)]
            if not found:
                raise DataError(f"{item}: no images (png, jpg, jpeg, bmp, webp) in this folder")
            files += found
        elif item.exists():
            files.append(item)
        else:
            raise DataError(f"{item}: no such image file or folder")
    return files


def predict(
    predictor: Predictor, inputs: Sequence[Path | str], top_k: int = 5, batch_size: int = 64
) -> list[Prediction]:
    """The `top_k` most probable classes of each image (softmax probabilities), in input order."""
    prep = predictor.preprocessing
    size = (prep.height, prep.width)
    k = min(top_k, len(predictor.classes))
    results: list[Prediction] = []
    files = image_files(inputs)
    for begin in range(0, len(files), batch_size):
        chunk = files[begin : begin + batch_size]
        pixels = torch.from_numpy(np.stack([decode_image(path, size, prep.channels) for path in chunk]))
        logits = predictor.run(prep.apply(pixels))
        if logits.dim() != 2 or logits.shape[1] != len(predictor.classes):
            raise PredictError(
                f"{predictor.source}: the model gives {tuple(logits.shape)} logits for {len(predictor.classes)} "
                "classes in its metadata"
            )
        probabilities, indices = torch.softmax(logits.float(), dim=1).topk(k, dim=1)
        for path, probs, index in zip(chunk, probabilities.tolist(), indices.tolist(), strict=True):
            results.append(
                Prediction(path, tuple((predictor.classes[i], p) for i, p in zip(index, probs, strict=True)))
            )
    return results


__all__ = ["Prediction", "Predictor", "image_files", "load_predictor", "predict"]
