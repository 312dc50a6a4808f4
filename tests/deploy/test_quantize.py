"""`archspec quantize`: an int8 ONNX model that keeps the export contract, guarded by test accuracy, and the
bad inputs around it (no data, too many calibration images, a quantized model given to export)."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import TINY_SPEC

from archspec.artifacts.checkpoint import checkpoint_model
from archspec.artifacts.metadata import KEYS, QUANTIZATION_KEY
from archspec.cli import main
from archspec.data.idx import DATASETS
from archspec.data.preprocess import Preprocessing
from archspec.deploy import quantize
from archspec.deploy.quantize import QuantizeError, quantize_checkpoint
from archspec.deploy.runtimes import load_onnx, onnx_session
from archspec.errors import DataError
from archspec.spec.io import spec_hash

pytestmark = pytest.mark.slow  # each test exports, quantizes and evaluates a trained model


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny net trained for two epochs on 3,000 sample images (about 50% test accuracy)."""
    from archspec.arch.validate import spec_from_text
    from archspec.recipe.schema import load_recipe
    from archspec.train.runs import DataOptions, train_run

    folder = tmp_path_factory.mktemp("quantize") / "run"
    recipe = load_recipe("d2l", ["resize=null", "batch_size=32", "optimizer.momentum=0.9", "optimizer.lr=0.05",
                                 "epochs=2", "precision=fp32"])  # fmt: skip
    options = DataOptions("sample", 3000, 1000)
    train_run(spec_from_text(TINY_SPEC), recipe, folder, options, "cpu", quiet=True, log=lambda _: None)
    return folder


def test_int8_model_keeps_the_export_contract_and_the_accuracy(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tiny.int8.onnx"
    # 8-channel layers quantize coarsely and 1,000 test images make a point 10 images: a loose limit here
    assert main(["quantize", str(run), "--calibrate", "256", "--out", str(out), "--max-drop", "3"]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy on 1,000 images: fp32 " in printed and ", int8 " in printed and f"wrote {out}" in printed

    int8 = load_onnx(out)  # checks the metadata keys and the images -> logits signature
    session = onnx_session(out)  # the same signature as an fp32 export: dynamic batch, float32 in and out
    signature = [(v.name, v.shape, v.type) for v in [*session.get_inputs(), *session.get_outputs()]]
    assert signature == [("images", ["batch", 1, 28, 28], "tensor(float)"), ("logits", ["batch", 10], "tensor(float)")]
    meta = int8.model_metadata(str(out))
    model, spec = checkpoint_model(run / "checkpoints" / "best.pt")
    assert meta.spec == spec and int8.metadata["archspec_spec_hash"] == spec_hash(spec)
    assert meta.classes[0] == "t-shirt" and len(meta.classes) == 10
    assert meta.preprocess == {
        "height": 28,
        "width": 28,
        "channels": 1,
        "channel_order": "L",
        "scale": 1 / 255,
        "mean": [0.0],
        "std": [1.0],
    }  # fmt: skip  (the d2l recipe does not normalise)
    assert set(int8.metadata) == {*KEYS, QUANTIZATION_KEY}  # the contract, its format and writer included
    assert meta.quantization is not None and meta.quantization["calibration_images"] == 256
    assert meta.quantization["fp32_accuracy"] > 0.4  # a model that learned something: the guard means something
    assert meta.quantization["fp32_accuracy"] - meta.quantization["int8_accuracy"] <= 0.03

    images = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        agree = (int8(images).argmax(1) == model(images).argmax(1)).float().mean()
    assert int8(images[:5]).shape == (5, 10) and agree > 0.8, agree
    import onnx

    graph = onnx.load(str(out)).graph
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= {node.op_type for node in graph.node}
    assert any(t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4 for t in graph.initializer)  # conv weights
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left behind

    # the int8 file is refused by `export`, with the reason
    assert main(["export", str(out), "--format", "onnx", "--out", str(tmp_path / "again.onnx")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "int8 model" in error and "already quantized" in error
    assert not (tmp_path / "again.onnx").exists()


def test_broken_calibration_is_refused_and_writes_nothing(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = quantize.quantize_data

    def constant_images(*args: Any, **kwargs: Any) -> quantize.QuantizeData:
        data = real(*args, **kwargs)
        return dataclasses.replace(data, calibration_images=torch.full_like(data.calibration_images, 128))

    monkeypatch.setattr(quantize, "quantize_data", constant_images)
    out = tmp_path / "broken.onnx"
    with pytest.raises(QuantizeError) as caught:
        quantize_checkpoint(run, out, calibrate=64)
    message = str(caught.value)
    assert "int8 test accuracy" in message and "below fp32" in message and "--max-drop 0.5" in message
    assert message.count("%") == 2 and "\n" not in message  # both accuracies, one line
    assert list(tmp_path.iterdir()) == []


def test_more_calibration_images_than_the_training_set(run: Path, tmp_path: Path) -> None:
    with pytest.raises(QuantizeError, match=r"--calibrate 3001: the run's training set .* has only 3,000 images"):
        quantize_checkpoint(run, tmp_path / "q.onnx", calibrate=3001)
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_without_its_data(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    out = tmp_path / "q.onnx"
    with pytest.raises(DataError, match=r"no fashion-mnist training images to calibrate on: .*train-images.*data-dir"):
        quantize_checkpoint(run, out, calibrate=10, data_dir=str(empty))
    assert main(["quantize", str(run), "--calibrate", "10", "--out", str(out), "--data-dir", str(empty)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--data-dir" in error and "train-images-idx3-ubyte" in error
    assert not out.exists()


def test_out_must_be_an_onnx_file(run: Path, tmp_path: Path) -> None:
    with pytest.raises(QuantizeError, match=r"\*\.onnx"):
        quantize_checkpoint(run, tmp_path / "q.pt", calibrate=10)


def test_class_names_and_preprocessing_come_from_the_checkpoint_when_it_stores_them(run: Path) -> None:
    from archspec.artifacts.checkpoint import load_checkpoint

    path = run / "checkpoints" / "best.pt"
    checkpoint = load_checkpoint(path)
    derived = quantize.quantize_data(checkpoint, path, 8)
    assert derived.classes == DATASETS["fashion-mnist"].classes
    assert [batch.shape for batch in derived.calibration(batch_size=5)] == [(5, 1, 28, 28), (3, 1, 28, 28)]
    names = [f"class{i}" for i in range(10)]
    preprocess = {"height": 28, "width": 28, "channels": 1, "channel_order": "L", "scale": 1 / 255,
                  "mean": [0.25], "std": [0.5]}  # fmt: skip
    labelled = replace(checkpoint, classes=tuple(names), preprocess=Preprocessing.from_dict(preprocess, "test"))
    stored = quantize.quantize_data(labelled, path, 8)
    assert stored.classes == tuple(names) and stored.preprocess == preprocess
