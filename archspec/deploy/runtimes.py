"""Inference runtimes behind one interface: a callable on NCHW float32 batches returning float32 logits,
with the model file's metadata. torch modules, ONNX Runtime and (optional) OpenVINO.

`load_onnx(path)` is the one way archspec opens an ONNX file to run it (bench, quantize, predict): graph
optimisations on, intra-op threads = the cores this process may use, its metadata checked against the
export contract (archspec.artifacts.metadata).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from archspec.artifacts.metadata import (
    INPUT_NAME,
    OUTPUT_NAME,
    QUANTIZATION_KEY,
    ModelFileError,
    ModelMetadata,
    parse_metadata,
)
from archspec.errors import ArchspecError
from archspec.runtime import usable_cores

ONNX_EXTRA = "pip install 'archspec[onnx]'"
OPENVINO_EXTRA = "pip install 'archspec[openvino]'"


class RuntimeMissing(ArchspecError):
    """An optional runtime (onnxruntime, OpenVINO) is not installed; the message names the extra to install."""


@dataclass(frozen=True)
class Runtime:
    """A model ready to run: `runtime(images)` maps (N, C, H, W) float32 to (N, classes) float32 logits."""

    name: str
    run: Callable[[torch.Tensor], torch.Tensor]
    metadata: dict[str, str] = field(default_factory=dict)  # the file's metadata keys (empty for torch modules)
    note: str = ""

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.run(images)

    def model_metadata(self, source: str) -> ModelMetadata:
        """The checked export metadata (spec, classes, preprocessing); ModelFileError naming what is missing."""
        return parse_metadata(self.metadata, source)


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    return len(usable_cores())


def torch_runtime(name: str, module: nn.Module, note: str = "") -> Runtime:
    """A torch module (eager or an optimised copy) as a Runtime; runs under inference_mode."""

    def run(images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out: torch.Tensor = module(images)
        return out

    return Runtime(name, run, note=note)


# --- ONNX Runtime -------------------------------------------------------------------------------


def onnxruntime_available() -> bool:
    try:
        import_onnxruntime()
    except RuntimeMissing:
        return False
    return True


def import_onnxruntime() -> ModuleType:
    """The onnxruntime module, or a one-line RuntimeMissing naming the extra to install."""
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeMissing(f"running ONNX models needs onnxruntime: {ONNX_EXTRA}") from None
    module: ModuleType = onnxruntime
    return module


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime InferenceSession on the CPU with every graph optimisation and `threads` intra-op threads."""
    ort = import_onnxruntime()
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or available_cores()
    options.inter_op_num_threads = 1  # a ResNet is one chain of operators: nothing to run side by side
    options.log_severity_level = 3  # errors only; warnings about unused initialisers are noise here
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own pybind exception types for a foreign or corrupt file
        reason = " ".join(str(err).split())[:200]
        raise ModelFileError(f"{path}: not a model onnxruntime can load: {reason}") from None


def onnx_metadata(path: Path) -> dict[str, str]:
    """An ONNX file's metadata_props as a dict (read through onnxruntime, so only that package is needed)."""
    return dict(onnx_session(path, threads=1).get_modelmeta().custom_metadata_map)


def load_onnx(path: Path, threads: int | None = None, name: str = "onnxruntime", check: bool = True) -> Runtime:
    """An archspec ONNX file (export or int8) as a Runtime. With `check`, refuses a file whose metadata lacks
    the contract's keys or whose input/output are not `images`/`logits` (ModelFileError, one line)."""
    session = onnx_session(path, threads)
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    if check:
        parse_metadata(metadata, str(path))
        inputs = [node.name for node in session.get_inputs()]
        outputs = [node.name for node in session.get_outputs()]
        if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
            raise ModelFileError(f"{path}: inputs {inputs} and outputs {outputs}; an archspec export has "
                                 f"[{INPUT_NAME!r}] and [{OUTPUT_NAME!r}]")  # fmt: skip

    def run(images: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: array})[0])

    return Runtime(name, run, metadata)


def refuse_onnx_source(path: Path) -> None:
    """Refuse an ONNX model where a spec or a checkpoint is expected (`archspec export`), saying why."""
    try:
        meta = onnx_metadata(path)
    except ArchspecError:  # unreadable, or no onnxruntime: the suffix says enough
        meta = {}
    if QUANTIZATION_KEY in meta:
        raise ModelFileError(f"{path}: an int8 model from `archspec quantize` cannot be exported: its weights are "
                             "already quantized; export (or quantize) the checkpoint it came from")  # fmt: skip
    raise ModelFileError(f"{path}: an ONNX model is already an export; export the spec or checkpoint it came from")


# --- OpenVINO (optional) ------------------------------------------------------------------------


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def load_openvino(path: Path, threads: int | None = None, name: str = "openvino fp32") -> Runtime:
    """An ONNX file compiled by OpenVINO for the CPU, in f32 (OpenVINO's default on a bf16-capable CPU is bf16),
    single stream with every core (the latency hint: this interface runs one batch at a time)."""
    try:
        import openvino
    except ImportError:
        raise RuntimeMissing(f"OpenVINO is not installed: {OPENVINO_EXTRA}") from None
    config = {"INFERENCE_NUM_THREADS": threads or available_cores(), "INFERENCE_PRECISION_HINT": "f32",
              "PERFORMANCE_HINT": "LATENCY"}  # fmt: skip
    try:
        compiled = openvino.Core().compile_model(str(path), "CPU", config)
    except Exception as err:  # OpenVINO raises RuntimeError with multi-line reports
        raise ModelFileError(f"{path}: OpenVINO cannot compile it: {' '.join(str(err).split())[:200]}") from None
    request = compiled.create_infer_request()
    output = compiled.output(0)

    def run(images: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32)
        result = request.infer({0: array})
        return torch.from_numpy(np.array(result[output], copy=True))  # the request reuses its output buffer

    version = openvino.__version__.split("-")[0]
    return Runtime(name, run, {}, note=f"OpenVINO {version}, inference precision hint f32")
