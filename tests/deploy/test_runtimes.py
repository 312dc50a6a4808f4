"""Runtimes behind one interface: ONNX Runtime (and OpenVINO) compute what the eager model computes; a file
that is not archspec's, or a missing onnxruntime, is a one-line error naming what is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from archspec import build, load_spec
from archspec.arch.validate import with_input
from archspec.artifacts.metadata import (
    CLASSES_KEY,
    HASH_KEY,
    PREPROCESS_KEY,
    SPEC_KEY,
    ModelFileError,
    ModelMetadata,
    parse_metadata,
    preprocess_entry,
)
from archspec.cli import main
from archspec.deploy.export import export
from archspec.deploy.runtimes import RuntimeMissing, load_onnx, load_openvino, torch_runtime


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    """cifar-resnet20 at 3x16x16 with random weights, exported to ONNX (class names 0..9: a spec, not a run)."""
    spec = with_input(load_spec("cifar-resnet20"), 3, 16, 16)
    torch.manual_seed(0)
    model = build(spec).eval()
    return model, export(model, spec, "onnx", tmp_path_factory.mktemp("onnx") / "net.onnx")


def test_onnxruntime_and_torch_runtimes_agree(exported: tuple[torch.nn.Module, Path]) -> None:
    model, path = exported
    x = torch.randn(3, 3, 16, 16)
    runtime = load_onnx(path, check=False)
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(runtime(x), expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch_runtime("eager", model)(x), expected)
    torch.testing.assert_close(runtime(x.contiguous(memory_format=torch.channels_last)), expected, rtol=1e-4, atol=1e-5)


def test_openvino_runs_the_export_in_fp32(exported: tuple[torch.nn.Module, Path]) -> None:
    pytest.importorskip("openvino")  # an optional extra: archspec[openvino]
    model, path = exported
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(load_openvino(path)(x), model(x), rtol=1e-4, atol=1e-4)


def test_an_export_without_class_names_is_not_enough_to_predict(
    exported: tuple[torch.nn.Module, Path], tmp_path: Path
) -> None:
    import onnx

    proto = onnx.load(str(exported[1]))
    kept = [p for p in proto.metadata_props if p.key not in (CLASSES_KEY, PREPROCESS_KEY)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    path = tmp_path / "unlabelled.onnx"  # as exports were written before class names travelled with them
    onnx.save(proto, str(path))
    with pytest.raises(ModelFileError) as caught:
        load_onnx(path)
    assert str(caught.value) == (
        f"{path}: incomplete archspec export: metadata lacks {CLASSES_KEY}, {PREPROCESS_KEY} "
        "(write models with `archspec export` or `archspec quantize`)"
    )


def test_a_foreign_onnx_file_names_every_missing_key(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )  # fmt: skip
    path = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ModelFileError, match=rf"not an archspec export: metadata lacks {SPEC_KEY}, {HASH_KEY}, "):
        load_onnx(path)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not a protobuf" * 10)
    with pytest.raises(ModelFileError, match="not a model onnxruntime can load") as caught:
        load_onnx(garbage)
    assert "\n" not in str(caught.value)


def test_export_refuses_an_onnx_export_as_its_source(
    exported: tuple[torch.nn.Module, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, path = exported
    assert main(["export", str(path), "--format", "torchscript", "--out", str(tmp_path / "x.ts")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "already an export" in error
    assert list(tmp_path.iterdir()) == []


def test_missing_onnxruntime_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    with pytest.raises(RuntimeMissing, match=r"pip install 'archspec\[onnx\]'"):
        load_onnx(tmp_path / "any.onnx")
    assert main(["quantize", str(tmp_path / "run"), "--calibrate", "10", "--out", str(tmp_path / "q.onnx")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "archspec[onnx]" in error
    from archspec.deploy.bench import missing_runtimes

    assert any("onnxruntime" in note and "archspec[onnx]" in note for note in missing_runtimes())


def _metadata() -> dict[str, str]:
    spec = load_spec("fashion-resnet")
    classes = tuple(f"c{i}" for i in range(10))
    return ModelMetadata(spec, classes, preprocess_entry(28, 28, 1, [0.286], [0.353])).as_strings()


def test_metadata_round_trips_and_each_bad_value_is_named() -> None:
    meta = _metadata()
    parsed = parse_metadata(meta, "m.onnx")
    assert parsed.classes[3] == "c3" and parsed.preprocess["mean"] == [0.286] and parsed.quantization is None
    assert parsed.as_strings() == meta
    bad = {
        HASH_KEY: ("sha256:0000", "is not the hash of the embedded spec"),
        CLASSES_KEY: (json.dumps(["a", "b"]), "names 2 classes but the spec has 10 outputs"),
        PREPROCESS_KEY: (json.dumps({"height": 28}), "lacks width, channels, channel_order, scale, mean, std"),
    }
    for key, (value, message) in bad.items():
        with pytest.raises(ModelFileError, match=message):
            parse_metadata({**meta, key: value}, "m.onnx")
    wrong_size = json.loads(meta[PREPROCESS_KEY]) | {"height": 32}
    with pytest.raises(ModelFileError, match=r"are not the spec's \(1, 28, 28\)"):
        parse_metadata({**meta, PREPROCESS_KEY: json.dumps(wrong_size)}, "m.onnx")
    with pytest.raises(ModelFileError, match=f"m.onnx: {CLASSES_KEY} is not valid JSON"):
        parse_metadata({**meta, CLASSES_KEY: "[t-shirt"}, "m.onnx")
