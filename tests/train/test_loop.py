"""Training end to end on the bundled sample: metrics, run folder, curves, evaluate, schedules, preprocessing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers import TINY_SPEC

from archspec.arch.validate import load_spec, spec_from_text
from archspec.artifacts.checkpoint import load_checkpoint
from archspec.cli import main
from archspec.data.preprocess import Preprocess
from archspec.errors import ArchspecError
from archspec.recipe.schema import load_recipe
from archspec.train.loop import lr_factor
from archspec.train.plots import CONFUSION_SIZE, CURVES_SIZE, png_size
from archspec.train.runs import COLUMNS, DataOptions, train_run

TINY_RECIPE = ["resize=null", "batch_size=32", "optimizer.momentum=0.9", "optimizer.lr=0.05", "epochs=2"]
# Chance on 10 balanced classes is 0.10; with 500 test images its standard deviation is about 0.013,
# so 0.30 is far outside chance while leaving room below the ~0.45-0.55 these two short epochs reach.
BEATS_CHANCE = 0.30


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Two epochs of the tiny spec on 2,000 images of the bundled sample, trained once for the module."""
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    lines: list[str] = []
    spec = spec_from_text(TINY_SPEC)
    recipe = load_recipe("d2l", TINY_RECIPE)
    train_run(spec, recipe, run_dir, DataOptions("sample", 2000, 500), quiet=True, log=lines.append)
    return run_dir, lines


@pytest.mark.slow
def test_tiny_spec_clearly_beats_chance(tiny_run: tuple[Path, list[str]]) -> None:
    run_dir, lines = tiny_run
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[-1]["test_acc"] > BEATS_CHANCE, rows
    assert rows[-1]["train_loss"] < math.log(10)  # below the loss of a uniform guess
    assert any("NOTICE: training on the bundled sample" in line for line in lines)


def test_run_folder_layout(tiny_run: tuple[Path, list[str]]) -> None:
    run_dir, lines = tiny_run
    names = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")}
    expected = {"spec.yaml", "recipe.yaml", "run.json", "metrics.jsonl", "metrics.csv", "curves.png", "checkpoints"}
    assert names == expected | {"checkpoints/last.pt", "checkpoints/best.pt", ".lock"}  # .lock: see RunDir.lock
    assert (run_dir / "metrics.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    assert load_spec(run_dir / "spec.yaml") == spec_from_text(TINY_SPEC)
    assert json.loads((run_dir / "run.json").read_text())["is_sample"] is True
    assert lines[-3].startswith("loss ") and ", train acc " in lines[-3] and ", test acc " in lines[-3]
    assert lines[-2].endswith(" examples/sec on cpu")


def test_curves_png_is_a_valid_image_of_the_declared_size(tiny_run: tuple[Path, list[str]]) -> None:
    assert png_size(tiny_run[0] / "curves.png") == CURVES_SIZE


def test_evaluate_prints_per_class_and_writes_confusion_png(
    tiny_run: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "confusion.png"
    assert main(["evaluate", str(tiny_run[0]), "--data-dir", "sample", "--max-test", "500", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "test acc " in out and "ankle boot" in out and "t-shirt" in out
    best = max(json.loads(line)["test_acc"] for line in (tiny_run[0] / "metrics.jsonl").read_text().splitlines())
    assert f"test acc {best:.4f}" in out  # evaluate reproduces the best epoch's figure
    assert png_size(png) == CONFUSION_SIZE


def test_existing_run_is_not_overwritten(tiny_run: tuple[Path, list[str]]) -> None:
    with pytest.raises(ArchspecError, match="already holds a run; continue it with --resume"):
        train_run(spec_from_text(TINY_SPEC), load_recipe("d2l", TINY_RECIPE), tiny_run[0], DataOptions("sample"))


def test_input_size_must_match_the_recipe() -> None:
    with pytest.raises(ArchspecError, match=r"takes 28x28 images but recipe d2l feeds 96x96; .*--set resize=null"):
        train_run(spec_from_text(TINY_SPEC), load_recipe("d2l"), Path("unused"), DataOptions("sample"))


def test_schedules() -> None:
    onecycle = load_recipe("d2l", ["epochs=4", "schedule={kind: onecycle, pct_start: 0.25, div_factor: 10}"])
    assert lr_factor(onecycle, 0, 10) == pytest.approx(0.1)
    assert lr_factor(onecycle, 10, 10) == pytest.approx(1.0)
    assert lr_factor(onecycle, 40, 10) == pytest.approx(0.1 / 1e4)
    cosine = load_recipe("d2l", ["epochs=4", "schedule={kind: cosine, warmup_epochs: 1}"])
    assert [lr_factor(cosine, s, 10) for s in (0, 9)] == pytest.approx([0.1, 1.0])
    assert lr_factor(cosine, 25, 10) == pytest.approx(0.5)
    assert lr_factor(cosine, 40, 10) == pytest.approx(0.0)
    assert lr_factor(load_recipe("d2l"), 123, 10) == 1.0


def test_preprocess_shapes_and_augmentation_are_batchwise_and_seeded() -> None:
    images = torch.randint(0, 256, (16, 28, 28), dtype=torch.uint8)
    plain = Preprocess(size=96)(images)
    assert plain.shape == (16, 1, 96, 96) and float(plain.min()) >= 0.0 and float(plain.max()) <= 1.0
    eval_only = Preprocess(crop_padding=4, flip=True, erasing=1.0)
    assert torch.equal(eval_only(images), images.unsqueeze(1).float() / 255)  # no generator: no augmentation
    a = eval_only(images, torch.Generator().manual_seed(1))
    b = eval_only(images, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (16, 1, 28, 28)
    assert (a == 0).sum() > (images == 0).sum()  # erasing and crop padding add zeros
    flipped = Preprocess(flip=True)(images, torch.Generator().manual_seed(2))
    for x, source in zip(flipped[:, 0], images.float() / 255, strict=True):
        assert torch.equal(x, source) or torch.equal(x, source.flip(1))
    normalised = Preprocess(mean=0.5, std=0.25, channels_last=True)(images)
    assert normalised.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(normalised, (images.unsqueeze(1).float() / 255 - 0.5) / 0.25)


def test_a_test_pass_scores_the_eval_mode_network_and_leaves_it_training() -> None:
    from torch import nn

    from archspec.data.batches import TensorSplit
    from archspec.nn.build import build
    from archspec.train.loop import confusion_matrix

    torch.manual_seed(0)
    model = build(spec_from_text(TINY_SPEC))
    for module in model.modules():  # statistics far from the initial 0 and 1, as training leaves them
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)  # type: ignore[union-attr]
            module.running_var.uniform_(0.2, 3)  # type: ignore[union-attr]
    images, labels = torch.randint(0, 256, (200, 1, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (200,))
    prep = Preprocess(size=(28, 28))
    before = {name: value.clone() for name, value in model.state_dict().items()}
    matrix = confusion_matrix(model, TensorSplit(images, labels), prep, 64, torch.device("cpu"), None, classes=10)
    assert model.training  # the loop trains on after its test pass
    model.eval()
    with torch.no_grad():
        predicted = model(prep(images)).argmax(1)
    expect = torch.zeros(10, 10, dtype=torch.long).index_put_((labels, predicted), torch.ones(200, dtype=torch.long),
                                                              accumulate=True)  # fmt: skip
    assert torch.equal(matrix, expect)  # the folded copy predicts what the network in eval mode predicts
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
    assert any(isinstance(module, nn.BatchNorm2d) for module in model.modules())


def test_swapped_conv_weight_grad_trains_as_the_native_kernel_does(tmp_path: Path) -> None:
    """conv_weight_grad: swapped changes how the small maps' weight gradients are computed, not what they are:
    in fp32 an epoch's loss and the trained weights match the native kernel's to rounding."""
    spec = spec_from_text(TINY_SPEC.replace("height: 28, width: 28", "height: 12, width: 12"))  # stage 2: 6x6
    rows, lines = {}, {}
    for kind in ("native", "swapped"):
        lines[kind] = []
        sets = ["resize=12", "epochs=1", "precision=fp32", f"conv_weight_grad={kind}"]
        recipe = load_recipe("d2l", [*TINY_RECIPE, *sets])
        train_run(spec, recipe, tmp_path / kind, DataOptions("sample", 256, 64), quiet=True, log=lines[kind].append)
        rows[kind] = json.loads((tmp_path / kind / "metrics.jsonl").read_text().splitlines()[-1])
    assert any("conv weight grad swapped" in line for line in lines["swapped"])
    assert any("conv weight grad native" in line for line in lines["native"])
    assert rows["swapped"]["train_loss"] == pytest.approx(rows["native"]["train_loss"], rel=1e-4)
    weights = [load_checkpoint(tmp_path / kind / "checkpoints" / "last.pt").model for kind in ("native", "swapped")]
    assert weights[0].keys() == weights[1].keys()
    for name, native in weights[0].items():
        torch.testing.assert_close(weights[1][name], native, rtol=1e-4, atol=1e-5, msg=name)
