"""archspec.deploy.predict and `archspec predict`: the same answers from a checkpoint, a run folder and every
export format, from the stored metadata alone; docs/inference.md's plain-runtime snippets agree; bad models
and inputs are one-line errors."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import onnx
import pytest
from imagedata import NAMES, write_folder

from archspec.artifacts.metadata import CLASSES_KEY, PREPROCESS_KEY
from archspec.cli import main
from archspec.deploy.export import export_source
from archspec.deploy.predict import load_predictor, predict
from archspec.errors import ArchspecError, DataError
from archspec.recipe.schema import load_recipe
from archspec.train.runs import train_run

ROOT = Path(__file__).resolve().parents[2]
SPEC = """\
name: tiny-three
input: {channels: 3, height: 24, width: 24}
stem: {channels: 8, kernel_size: 3, stride: 1}
block: {kind: basic}
stages:
  - {channels: 8, blocks: 1, stride: 2}
head: {num_classes: 3}
"""
FORMATS = {"torchscript": ".ts", "exported-program": ".pt2", "onnx": ".onnx"}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Path]]:
    """(run folder, image folder, exports by format): one epoch on a 3-class RGB folder, normalised."""
    from archspec.arch.validate import spec_from_text

    base = tmp_path_factory.mktemp("predict")
    images = base / "images"
    write_folder(images, classes=3, per_class=24)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARCHSPEC_CACHE", str(base / "cache"))
        recipe = load_recipe("d2l", ["dataset=null", f"data={{kind: folder, root: {images}}}", "resize=null",
                                     "normalize=true", "epochs=1", "batch_size=16"])  # fmt: skip
        run = train_run(spec_from_text(SPEC), recipe, base / "run", quiet=True, log=lambda _: None)
    exports = {fmt: export_source(run, fmt, base / f"model{suffix}").path for fmt, suffix in FORMATS.items()}  # type: ignore[arg-type]
    return run, images, exports


def test_every_model_form_gives_the_same_predictions(model: tuple[Path, Path, dict[str, Path]]) -> None:
    run, images, exports = model
    reference = predict(load_predictor(run), [images], top_k=3)
    assert len(reference) == 72 and {name for p in reference for name, _ in p.top} == set(NAMES[:3])
    for path in [run / "checkpoints" / "best.pt", *exports.values()]:
        got = predict(load_predictor(path), [images], top_k=3)
        assert [p.path for p in got] == [p.path for p in reference]
        for a, b in zip(got, reference, strict=True):
            assert a.top[0][0] == b.top[0][0], path
            assert max(abs(x[1] - y[1]) for x, y in zip(a.top, b.top, strict=True)) < 1e-4, path


def test_exports_carry_the_metadata_contract(model: tuple[Path, Path, dict[str, Path]]) -> None:
    _, _, exports = model
    meta = {p.key: p.value for p in onnx.load(str(exports["onnx"])).metadata_props}
    assert json.loads(meta[CLASSES_KEY]) == sorted(NAMES[:3])
    prep = json.loads(meta[PREPROCESS_KEY])
    assert set(prep) == {"height", "width", "channels", "channel_order", "scale", "mean", "std"}
    assert (prep["height"], prep["width"], prep["channels"], prep["channel_order"]) == (24, 24, 3, "RGB")
    assert prep["scale"] == pytest.approx(1 / 255) and len(prep["mean"]) == len(prep["std"]) == 3
    assert prep["mean"] != [0.0, 0.0, 0.0]  # normalize: true stored the training split's statistics


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_the_plain_runtime_snippets_in_the_docs_agree(
    model: tuple[Path, Path, dict[str, Path]], fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/inference.md's snippets, run as written (only the file names replaced), name predict's top class."""
    _, images, exports = model
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "inference.md").read_text(), re.S)
    code = next(b for b in blocks if ("onnxruntime.InferenceSession" if fmt == "onnx" else "torch.jit.load") in b)
    assert len(code.strip().splitlines()) <= 12  # "about 10 lines"
    image = sorted((images / NAMES[1]).iterdir())[0]
    source = code.replace(f'"model{FORMATS[fmt]}"', repr(str(exports[fmt]))).replace('"shoe.png"', repr(str(image)))
    exec(compile(source, "docs/inference.md", "exec"), {})
    assert capsys.readouterr().out.strip() == predict(load_predictor(exports[fmt]), [image], top_k=1)[0].top[0][0]


def test_cli_formats(model: tuple[Path, Path, dict[str, Path]], capsys: pytest.CaptureFixture[str]) -> None:
    run, images, exports = model
    one = sorted((images / NAMES[0]).iterdir())[:2]
    assert main(["predict", str(exports["onnx"]), *map(str, one), "--format", "csv", "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "path,rank,class,probability" and len(lines) == 5
    assert {line.split(",")[2] for line in lines[1:]} <= set(NAMES[:3])
    assert main(["predict", str(run), str(one[0])]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("model: ") and table[1].split() == ["image", "rank", "class", "probability"]
    assert len(table) == 2 + 3  # top-5 asked, 3 classes exist


def test_onnx_without_archspec_metadata_is_refused(model: tuple[Path, Path, dict[str, Path]], tmp_path: Path) -> None:
    _, _images, exports = model
    proto = onnx.load(str(exports["onnx"]))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(ArchspecError) as info:
        load_predictor(bare)
    message = str(info.value)
    assert (
        message.startswith(f"{bare}: not an archspec export: metadata lacks archspec_spec.yaml") and "\n" not in message
    )


def test_onnx_without_onnxruntime_names_the_extra(
    model: tuple[Path, Path, dict[str, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(ArchspecError, match=r"needs onnxruntime: pip install 'archspec\[onnx\]'"):
        load_predictor(model[2]["onnx"])


def test_bad_models_and_images(model: tuple[Path, Path, dict[str, Path]], tmp_path: Path) -> None:
    _run, images, exports = model
    for path, fragment in [
        (tmp_path / "missing.pt", "no such checkpoint, run folder or export"),
        (images, "a folder, but not a run folder"),
        (tmp_path / "notes.txt", "not a checkpoint (.pt), run folder or export"),
    ]:
        if path.suffix == ".txt":
            path.write_text("hi")
        with pytest.raises(ArchspecError, match=re.escape(fragment)):
            load_predictor(path)
    garbage = tmp_path / "junk.onnx"
    garbage.write_bytes(b"\x00garbage")
    with pytest.raises(ArchspecError, match=f"^{garbage}: not a model onnxruntime can load"):
        load_predictor(garbage)
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    with pytest.raises(DataError, match=f"^{fake}: not an image Pillow can read"):
        predict(load_predictor(exports["torchscript"]), [fake])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        predict(load_predictor(exports["torchscript"]), [tmp_path / "empty"])
