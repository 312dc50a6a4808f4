"""Post-training int8 quantization of a trained checkpoint with ONNX Runtime, guarded by test accuracy.

checkpoint -> verified fp32 ONNX export (archspec.deploy.export) -> ORT pre-processing (shape inference,
BN folded into the convolutions) -> static QDQ quantization: int8 weights per output channel, uint8
activations with ranges from N training images (min/max) -> test accuracy of fp32 and int8 through
onnxruntime -> the int8 file, carrying the fp32 export's metadata, written only if the accuracy held.

Why ONNX Runtime and not PyTorch's PT2E X86InductorQuantizer: measured on this project's CPU (docs/benchmarks.md),
ORT's int8 model ran 1.1-2.9x faster than PT2E's compiled by inductor, with no C++ compile at load time; its
output is one portable file that `archspec predict` and any ONNX runtime read, while PT2E's needs torch.compile
on every load (and torchao). uint8 activations, not int8: ORT's x86 kernels are u8s8 (VNNI); s8s8 QDQ ran 2.5x slower.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archspec.artifacts.checkpoint import Checkpoint, checkpoint_file, checkpoint_spec, load_checkpoint
from archspec.artifacts.metadata import (
    CLASSES_KEY,
    INPUT_NAME,
    PREPROCESS_KEY,
    QUANTIZATION_KEY,
    ModelMetadata,
    parse_metadata,
)
from archspec.artifacts.rundir import RunDir
from archspec.config.files import write_atomic
from archspec.data import DataOptions, FileSplit, Request, open_dataset
from archspec.data.base import AnySplit, Target
from archspec.data.images import decode_image
from archspec.data.preprocess import Preprocess
from archspec.deploy.export import export_source
from archspec.deploy.runtimes import Runtime, import_onnxruntime, load_onnx, onnx_metadata
from archspec.errors import ArchspecError, DataError
from archspec.spec.schema import ResNetSpec

METHOD = "onnxruntime static QDQ: int8 weights per output channel, uint8 activations, min/max calibration"
DEFAULT_MAX_DROP = 0.5  # accuracy points
CALIBRATION_SEED = 0
BATCH = 64


class QuantizeError(ArchspecError):
    """Quantization refused: the int8 model lost too much accuracy, or the request cannot be met."""


@dataclass(frozen=True)
class QuantizeData:
    """What quantization needs from the run's data, already in model-input form."""

    calibration_images: torch.Tensor  # (N, H, W) uint8: the N training images chosen for calibration
    test_images: torch.Tensor  # (M, H, W) uint8
    test_labels: torch.Tensor  # (M,) int64
    prepare: Callable[[torch.Tensor], torch.Tensor]  # uint8 images -> model input (float32, NCHW)
    classes: tuple[str, ...]
    preprocess: dict[str, Any]  # the export contract's preprocessing object
    describe: str

    def calibration(self, batch_size: int = BATCH) -> Iterator[torch.Tensor]:
        """The calibration images as model inputs, one batch at a time (N images at full size may not fit)."""
        for begin in range(0, len(self.calibration_images), batch_size):
            yield self.prepare(self.calibration_images[begin : begin + batch_size])


@dataclass(frozen=True)
class Quantized:
    path: Path
    source: Path  # the checkpoint
    spec: ResNetSpec
    calibration_images: int
    fp32_accuracy: float
    int8_accuracy: float
    test_images: int
    data: str

    @property
    def drop_points(self) -> float:
        return 100 * (self.fp32_accuracy - self.int8_accuracy)


def quantize_data(
    checkpoint: Checkpoint, path: Path, calibrate: int, data_dir: str | None = None, max_test: int | None = None
) -> QuantizeData:
    """The one place quantize reads a run's data; everything it needs from the training side is here.

    The checkpoint's stored recipe names the dataset, its stored class names and preprocessing prepare the
    images exactly as in training, and the run folder's run.json the data folder and split sizes the run used
    (unless --data-dir/--max-test say otherwise).
    """
    recipe = checkpoint.recipe()
    spec = checkpoint_spec(checkpoint, path)
    classes, preprocessing = checkpoint.labels()
    stored = _run_data_options(path)
    folder = data_dir if data_dir is not None else stored.data_dir
    test_count = max_test if max_test is not None else stored.max_test
    try:
        data = open_dataset(recipe.source, Request(DataOptions(folder, stored.max_train, test_count),
                                                   Target.of(spec)))  # fmt: skip
    except DataError as err:
        what = getattr(recipe.source, "name", recipe.source.kind)  # an IDX dataset's name, else the data kind
        raise DataError(f"{path}: no {what} training images to calibrate on: {err} "
                        "(point --data-dir at the data the run was trained on)") from None  # fmt: skip
    assert data.train is not None  # asked for with the training split
    if calibrate > len(data.train):
        raise QuantizeError(f"--calibrate {calibrate}: the run's training set ({data.describe()}) has only "
                            f"{len(data.train):,} images")  # fmt: skip
    prepare = Preprocess.for_testing(preprocessing, recipe.normalize)  # onnxruntime takes contiguous NCHW
    generator = torch.Generator().manual_seed(CALIBRATION_SEED)
    chosen = torch.randperm(len(data.train), generator=generator)[:calibrate].sort().values
    test_labels = torch.from_numpy(np.ascontiguousarray(data.test.labels, dtype=np.int64))
    return QuantizeData(_images(data.train, chosen.numpy()), _images(data.test, None), test_labels, prepare,
                        classes, preprocessing.to_dict(), data.describe())  # fmt: skip


def _images(split: AnySplit, chosen: np.ndarray | None) -> torch.Tensor:
    """uint8 images of a split (the `chosen` ones, or all), decoding a streamed split's files."""
    if isinstance(split, FileSplit):
        indices = range(len(split)) if chosen is None else chosen.tolist()
        return torch.from_numpy(np.stack([decode_image(split.files[i], split.size, split.channels) for i in indices]))
    images = split.images if chosen is None else split.images[chosen]
    return torch.from_numpy(np.array(images))  # a copy: IDX arrays are read-only views of the file


def _run_data_options(path: Path) -> DataOptions:
    """The data options stored in the run folder that holds checkpoint `path` (RUN/checkpoints/x.pt), if any."""
    run = RunDir.of_checkpoint(path)
    return run.data_options() if run is not None else DataOptions()


def accuracy(runtime: Runtime, data: QuantizeData, batch_size: int = 256) -> float:
    """Top-1 accuracy of `runtime` on the test split."""
    correct = 0
    for begin in range(0, len(data.test_labels), batch_size):
        logits = runtime(data.prepare(data.test_images[begin : begin + batch_size]))
        correct += int((logits.argmax(1) == data.test_labels[begin : begin + batch_size]).sum())
    return correct / max(len(data.test_labels), 1)


def quantize_onnx(fp32: Path, out: Path, calibration: Iterable[torch.Tensor], activations: str = "uint8") -> None:
    """Static QDQ int8 quantization of the fp32 ONNX file `fp32` into `out` (no metadata handling).

    `activations` "int8" exists to measure the choice (benchmarks/cpu_inference.py --s8): it ran 2.5x slower here."""
    import_onnxruntime()
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = out.with_name(f"{out.stem}.prepared.onnx")
    quant_pre_process(str(fp32), str(prepared))  # shape inference; folds BN into conv so weights quantize fused

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches: Iterator[torch.Tensor] = iter(calibration)

        def get_next(self) -> dict[str, Any] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch.contiguous().numpy()}

    with _root_logging(logging.ERROR):  # ORT's quantizer logs advice to the root logger
        quantize_static(
            str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )  # fmt: skip
    prepared.unlink(missing_ok=True)


@contextlib.contextmanager
def _root_logging(level: int) -> Iterator[None]:
    root = logging.getLogger()
    before = root.level
    root.setLevel(max(level, before))
    try:
        yield
    finally:
        root.setLevel(before)


def quantize_checkpoint(
    source: Path,
    out: Path,
    calibrate: int,
    max_drop: float = DEFAULT_MAX_DROP,
    data_dir: str | None = None,
    max_test: int | None = None,
) -> Quantized:
    """Quantize a checkpoint (or a run folder's best) to an int8 ONNX file at `out`, calibrated on `calibrate`
    training images; QuantizeError (nothing written) when test accuracy drops more than `max_drop` points."""
    if out.suffix != ".onnx":
        raise QuantizeError(f"--out {out}: the int8 model is an ONNX file; name it *.onnx")
    if max_drop < 0:
        raise QuantizeError(f"--max-drop {max_drop}: must be 0 or more accuracy points")
    import_onnxruntime()
    path = checkpoint_file(source)
    data = quantize_data(load_checkpoint(path), path, calibrate, data_dir, max_test)
    with tempfile.TemporaryDirectory(prefix="archspec-quantize-") as work:
        fp32 = export_source(path, "onnx", Path(work) / "fp32.onnx").path
        metadata = _int8_metadata(onnx_metadata(fp32), data)
        int8 = Path(work) / "int8.onnx"
        quantize_onnx(fp32, int8, data.calibration())
        fp32_accuracy = accuracy(load_onnx(fp32, check=False), data)
        int8_accuracy = accuracy(load_onnx(int8, check=False), data)
        drop = 100 * (fp32_accuracy - int8_accuracy)
        if drop > max_drop:
            raise QuantizeError(
                f"{path}: int8 test accuracy {int8_accuracy:.2%} is {drop:.2f} points below fp32 {fp32_accuracy:.2%} "
                f"(more than --max-drop {max_drop:g}); nothing written to {out}"
            )
        quantization = {"method": METHOD, "calibration_images": calibrate, "fp32_accuracy": fp32_accuracy,
                        "int8_accuracy": int8_accuracy, "test_images": len(data.test_labels)}  # fmt: skip
        metadata = dataclasses.replace(metadata, quantization=quantization)
        write_atomic(out, _with_metadata(int8, metadata.as_strings()), QuantizeError)
    return Quantized(out, path, metadata.spec, calibrate, fp32_accuracy, int8_accuracy, len(data.test_labels),
                     data.describe)  # fmt: skip


def _int8_metadata(fp32_meta: dict[str, str], data: QuantizeData) -> ModelMetadata:
    """The fp32 export's metadata, with class names and preprocessing from the run where the export lacks them."""
    meta = dict(fp32_meta)
    meta.setdefault(CLASSES_KEY, json.dumps(list(data.classes)))
    meta.setdefault(PREPROCESS_KEY, json.dumps(data.preprocess))
    meta.pop(QUANTIZATION_KEY, None)
    return parse_metadata(meta, "fp32 export")


def _with_metadata(path: Path, meta: dict[str, str]) -> bytes:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    return bytes(model.SerializeToString())
