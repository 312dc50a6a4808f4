"""The export metadata contract: the string keys every archspec export carries, and their checked reading.

    archspec_spec.yaml     the canonical spec
    archspec_spec_hash     its hash
    archspec_classes       JSON list of class names, in label order
    archspec_preprocess    JSON object: input = ((uint8 pixels * scale) - mean) / std, NCHW float32
    archspec_quantization  (int8 files only) JSON object: how the file was quantized and what it scored
    archspec_format        the metadata's format version ("2"; absent in files of archspec 0.1: format 1)
    archspec_version       the archspec that wrote the file

ONNX files hold them as metadata_props, TorchScript and torch.export archives as extra files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archspec.arch.validate import spec_from_text
from archspec.artifacts.migrations import EXPORT, archspec_version
from archspec.data.preprocess import SCALE, Preprocessing
from archspec.errors import ArchspecError
from archspec.spec.io import dump_spec, spec_hash
from archspec.spec.schema import ResNetSpec

SPEC_KEY = "archspec_spec.yaml"
HASH_KEY = "archspec_spec_hash"
CLASSES_KEY = "archspec_classes"
PREPROCESS_KEY = "archspec_preprocess"
QUANTIZATION_KEY = "archspec_quantization"
FORMAT_KEY = "archspec_format"
VERSION_KEY = "archspec_version"
REQUIRED = (SPEC_KEY, HASH_KEY, CLASSES_KEY, PREPROCESS_KEY)
KEYS = (*REQUIRED, FORMAT_KEY, VERSION_KEY)  # what a reader asks a TorchScript or torch.export archive for
INPUT_NAME = "images"
OUTPUT_NAME = "logits"
CHANNEL_ORDERS = {1: "L", 3: "RGB"}


class ModelFileError(ArchspecError):
    """A model file (an export or a quantized model) that archspec cannot use: foreign, incomplete or unreadable."""


@dataclass(frozen=True)
class ModelMetadata:
    """What an archspec export says about itself, checked."""

    spec: ResNetSpec
    classes: tuple[str, ...]
    preprocess: dict[str, Any]  # the contract's object: height, width, channels, channel_order, scale, mean, std
    quantization: dict[str, Any] | None = None  # set for `archspec quantize` output

    def as_strings(self) -> dict[str, str]:
        """The metadata as the contract's string keys (what an export stores), in the current format."""
        meta = {
            SPEC_KEY: dump_spec(self.spec),
            HASH_KEY: spec_hash(self.spec),
            CLASSES_KEY: json.dumps(list(self.classes)),
            PREPROCESS_KEY: json.dumps(self.preprocess),
            FORMAT_KEY: str(EXPORT.current),
            VERSION_KEY: archspec_version(),
        }
        if self.quantization is not None:
            meta[QUANTIZATION_KEY] = json.dumps(self.quantization)
        return meta


def preprocess_entry(
    height: int, width: int, channels: int, mean: list[float], std: list[float], scale: float = SCALE
) -> dict[str, Any]:
    """The contract's preprocessing object (archspec.data.preprocess.Preprocessing's stored form)."""
    return Preprocessing(height, width, channels, tuple(mean), tuple(std), scale).to_dict()


def parse_metadata(meta: Mapping[str, str], source: str) -> ModelMetadata:
    """The checked metadata of a model file, migrated from its format; ModelFileError naming the file and
    every missing or bad key, or both versions for a file newer than this archspec."""
    meta = {key: value for key, value in meta.items() if value != ""}  # "": a key an archive lacks
    version = meta.get(FORMAT_KEY, "1")
    if not (version.isdigit() and len(version) < 6):
        raise ModelFileError(f"{source}: {FORMAT_KEY} must be a whole number, got {version[:40]!r}")
    meta = EXPORT.migrate(meta, int(version), source, ModelFileError)
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        what = "not an archspec export" if len(missing) == len(REQUIRED) else "incomplete archspec export"
        raise ModelFileError(f"{source}: {what}: metadata lacks {', '.join(missing)} "
                             "(write models with `archspec export` or `archspec quantize`)")  # fmt: skip
    try:
        spec = spec_from_text(meta[SPEC_KEY], f"{source} ({SPEC_KEY})")
    except ArchspecError as err:
        raise ModelFileError(f"{source}: embedded spec does not validate: {err}") from None
    if spec_hash(spec) != meta[HASH_KEY]:
        raise ModelFileError(f"{source}: {HASH_KEY} {meta[HASH_KEY]!r} is not the hash of the embedded spec "
                             f"({spec_hash(spec)}); the file was edited")  # fmt: skip
    classes = _json(meta, CLASSES_KEY, source)
    if not isinstance(classes, list) or not all(isinstance(name, str) for name in classes):
        raise ModelFileError(f"{source}: {CLASSES_KEY} must be a JSON list of class names")
    if len(classes) != spec.head.num_classes:
        raise ModelFileError(f"{source}: {CLASSES_KEY} names {len(classes)} classes but the spec has "
                             f"{spec.head.num_classes} outputs")  # fmt: skip
    preprocess = _json(meta, PREPROCESS_KEY, source)
    _check_preprocess(preprocess, spec, source)
    quantization = _json(meta, QUANTIZATION_KEY, source) if QUANTIZATION_KEY in meta else None
    if quantization is not None and not isinstance(quantization, dict):
        raise ModelFileError(f"{source}: {QUANTIZATION_KEY} must be a JSON object")
    return ModelMetadata(spec, tuple(classes), preprocess, quantization)


def _json(meta: Mapping[str, str], key: str, source: str) -> Any:
    try:
        return json.loads(meta[key])
    except ValueError as err:
        raise ModelFileError(f"{source}: {key} is not valid JSON: {err}") from None


def _check_preprocess(entry: Any, spec: ResNetSpec, source: str) -> None:
    """The one reader of the preprocessing object (Preprocessing.from_dict), then its fit to the spec."""
    where = f"{source}: {PREPROCESS_KEY}"
    prep = Preprocessing.from_dict(entry, where, ModelFileError)
    size = (prep.channels, prep.height, prep.width)
    expected = (spec.input.channels, spec.input.height, spec.input.width)
    if size != expected:
        raise ModelFileError(f"{where}: channels, height, width {size} are not the spec's {expected}")
    if prep.channels not in CHANNEL_ORDERS:
        raise ModelFileError(f"{where}: {prep.channels} channels; images decode to 1 (L) or 3 (RGB)")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
