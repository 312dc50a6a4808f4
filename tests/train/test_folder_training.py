"""End to end on your own images: a 3-channel, 7-class spec trained on a folder dataset with `archspec train`,
then evaluated and asked to predict, with the class names carried all the way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from imagedata import NAMES, write_folder

from archspec.artifacts.checkpoint import load_checkpoint
from archspec.artifacts.rundir import RunDir
from archspec.cli import main

SPEC = """\
name: tiny-rgb
input: {channels: 3, height: 28, width: 28}
stem: {channels: 8, kernel_size: 3, stride: 1}
block: {kind: basic}
stages:
  - {channels: 8, blocks: 1}
  - {channels: 16, blocks: 1, stride: 2}
head: {num_classes: 7}
"""
RECIPE = """\
name: pets
data: {kind: folder, root: ROOT, workers: 2}
normalize: true
epochs: 2
batch_size: 32
optimizer: {kind: adamw, lr: 0.003}
"""
# Chance on 7 balanced classes is 0.14; with 210 test images its standard deviation is about 0.024, so
# 0.30 is far outside chance while well below the ~0.5 two short epochs reach.
BEATS_CHANCE = 0.30


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(run folder, data root, what train printed): 700 training and 210 validation images, two epochs."""
    base = tmp_path_factory.mktemp("pets")
    root = base / "pets"
    write_folder(root / "train", per_class=100, jpeg_every=5, gray_every=4)
    write_folder(root / "val", per_class=30, split="test")
    (base / "spec.yaml").write_text(SPEC)
    (base / "r.yaml").write_text(RECIPE.replace("ROOT", str(root)))
    run = base / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARCHSPEC_CACHE", str(base / "cache"))
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["train", str(base / "spec.yaml"), "--recipe", str(base / "r.yaml"), "--out", str(run),
                         "--quiet"])  # fmt: skip
    assert code == 0, out.getvalue()
    return run, root, out.getvalue()


@pytest.mark.slow
def test_trains_beyond_chance_and_stores_classes_and_statistics(trained: tuple[Path, Path, str]) -> None:
    run, _root, printed = trained
    rows = [json.loads(line) for line in RunDir(run).metrics_jsonl.read_text().splitlines()]
    assert rows[-1]["test_acc"] > BEATS_CHANCE, rows
    assert "decoding 700 images" in printed and "7 classes, 3 channels, 28x28" in printed
    state = load_checkpoint(RunDir(run).best)
    assert state.classes == tuple(sorted(NAMES[:7])) and state.preprocess is not None
    prep = state.preprocess.to_dict()
    assert (prep["height"], prep["width"], prep["channels"], prep["channel_order"]) == (28, 28, 3, "RGB")
    assert len(prep["mean"]) == 3 and prep["mean"][0] > prep["mean"][2]  # per channel, from the data
    assert json.loads(RunDir(run).info_file.read_text())["preprocess"] == prep


@pytest.mark.slow
def test_predict_names_the_classes(trained: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    run, root, _ = trained
    assert main(["predict", str(run), str(root / "val"), "--format", "json", "--top-k", "3"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 210
    assert all(len(r["top"]) == 3 and {t["class"] for t in r["top"]} <= set(NAMES[:7]) for r in results)
    right = sum(Path(r["path"]).parent.name == r["top"][0]["class"] for r in results)
    assert right / len(results) > BEATS_CHANCE
    assert all(abs(sum(t["probability"] for t in r["top"]) - 1) < 1 for r in results)


@pytest.mark.slow
def test_evaluate_uses_the_class_names(trained: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    run, _, _ = trained
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    for name in NAMES[:7]:
        assert f"  {name} " in out
    assert "210 test" in out and (run / "confusion-best.png").is_file()


def test_class_count_mismatch_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHSPEC_CACHE", str(tmp_path / "cache"))
    write_folder(tmp_path / "pets", per_class=3)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("num_classes: 7", "num_classes: 200"))
    (tmp_path / "r.yaml").write_text(RECIPE.replace("ROOT", str(tmp_path / "pets")))
    args = ["train", str(tmp_path / "spec.yaml"), "--recipe", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "r")]
    assert main([*args, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "head.num_classes=200 but folder" in err and "--set head.num_classes=7" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "cache").exists()  # nothing decoded or written


def test_preprocessing_handles_rgb_and_random_resized_crop() -> None:
    from archspec.data.preprocess import Preprocess, random_resized_crop

    images = torch.randint(0, 256, (8, 3, 28, 28), dtype=torch.uint8)
    prep = Preprocess(size=(32, 24), mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2), random_resized_crop=(0.3, 1.0))
    a, b = prep(images, torch.Generator().manual_seed(0)), prep(images, torch.Generator().manual_seed(0))
    assert a.shape == (8, 3, 32, 24) and torch.equal(a, b)
    plain = prep(images)  # evaluation: resize and normalise only
    # the width shrinks (28 to 24): filtered over the source pixels, as PIL's bilinear resize does
    expected = torch.nn.functional.interpolate(images.float() / 255, size=(32, 24), mode="bilinear", antialias=True)
    mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
    assert torch.allclose(plain, (expected - mean) / 0.2, atol=1e-6) and not torch.allclose(a, plain)
    x = images.float() / 255
    whole = random_resized_crop(x, (28, 28), (1.0, 1.0), torch.Generator().manual_seed(0), ratio=(1.0, 1.0))
    assert torch.allclose(whole, x, atol=1e-5)  # area 1 at aspect 1: the whole image, resampled onto itself
    ramp = (torch.arange(28.0) / 27).expand(8, 3, 28, 28)  # each pixel holds its column's position
    half = random_resized_crop(ramp, (14, 14), (0.25, 0.25), torch.Generator().manual_seed(0), ratio=(1.0, 1.0))
    # a quarter of the area at aspect 1 is a 14x14 window read at 1:1: one column of the source per column
    assert half.shape == (8, 3, 14, 14) and torch.allclose(half.diff(dim=3), torch.tensor(1 / 27), atol=1e-5)
    assert len({round(float(h[0, 0, 0]), 4) for h in half}) > 1  # each image its own window


@pytest.mark.slow
def test_evaluate_on_other_classes_is_refused(
    trained: tuple[Path, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _, _ = trained
    other = tmp_path / "other"
    for split in ("train", "val"):
        write_folder(other / split, classes=8, per_class=2, split="test")
        shutil.rmtree(other / split / NAMES[0])  # 7 classes, but not the 7 it was trained on
    assert main(["evaluate", str(run), "--data-dir", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained on classes [coat, dress, pullover" in err and "but " in err
