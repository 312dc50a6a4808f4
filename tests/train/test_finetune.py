"""Fine-tuning: `train --init-from` with another head and input channels, frozen parts, a head learning rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import TINY_SETS, TINY_SPEC

from archspec.arch.validate import load_spec, spec_from_text
from archspec.artifacts.checkpoint import load_checkpoint
from archspec.cli import main
from archspec.nn.build import build
from archspec.nn.weights import export, save_state_dict
from archspec.recipe.schema import load_recipe
from archspec.report import load_table
from archspec.train.finetune import freeze, param_groups, prepare

RGB_SPEC = (
    TINY_SPEC.replace("name: tiny", "name: tiny-rgb")
    .replace("channels: 1,", "channels: 3,")
    .replace("num_classes: 10", "num_classes: 12")
)
DATA = ["--data-dir", "sample", "--max-train", "256", "--max-test", "64", "--quiet", "--set", "epochs=1"]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(source checkpoint, its spec file, run folder): an RGB 12-class net imported, fine-tuned as grey 10-class."""
    tmp = tmp_path_factory.mktemp("finetune")
    (tmp / "tiny.yaml").write_text(TINY_SPEC)
    (tmp / "tiny-rgb.yaml").write_text(RGB_SPEC)
    torch.manual_seed(7)
    save_state_dict(build(spec_from_text(RGB_SPEC)).state_dict(), tmp / "rgb.pth")
    source = tmp / "rgb.pt"
    imported = ["weights", "import", str(tmp / "rgb.pth"), "--layout", "archspec", "--spec", str(tmp / "tiny-rgb.yaml")]
    assert main([*imported, "--out", str(source)]) == 0
    run = tmp / "run"
    code = main(["train", str(tmp / "tiny.yaml"), *TINY_SETS, *DATA, "--init-from", str(source), "--out", str(run),
                 "--set", "freeze=[stem, stage1]", "--set", "head_lr_scale=5"])  # fmt: skip
    assert code == 0
    return source, tmp / "tiny.yaml", run


@pytest.mark.slow
def test_fine_tuning_adapts_the_stem_renews_the_head_and_keeps_frozen_parts(finetuned: tuple[Path, Path, Path]) -> None:
    source, _, run = finetuned
    start = load_checkpoint(source).model
    end = load_checkpoint(run / "checkpoints" / "last.pt")
    weights = end.model
    # frozen stem and stage1: exactly the adapted / loaded source, running statistics included
    torch.testing.assert_close(weights["stem.conv.weight"], start["stem.conv.weight"].sum(1, keepdim=True))
    for name in ("stem.norm.running_mean", "stage1.0.main.conv1.weight", "stage1.0.main.norm2.running_var"):
        assert torch.equal(weights[name], start[name]), name
    # trained: stage2 moved away from the source, the new head has 10 classes
    assert not torch.equal(weights["stage2.0.main.conv1.weight"], start["stage2.0.main.conv1.weight"])
    assert weights["head.fc.weight"].shape == (10, 16)
    assert end.training is not None
    groups = end.training.optimizer["param_groups"]
    assert len(groups) == 2 and groups[1]["lr"] == pytest.approx(5 * groups[0]["lr"])

    record = json.loads((run / "init-from.json").read_text())
    status = {row[0]: row[1] for row in record["tensors"]}
    assert record["layout"] == "archspec" and record["source"] == str(source)
    assert status["stem.conv.weight"] == "adapted" and status["stage2.0.main.conv2.weight"] == "loaded"
    assert status["head.fc.weight"] == status["head.fc.bias"] == "new"
    assert sum(s == "loaded" for s in status.values()) == len(status) - 3


def test_the_table_of_loaded_adapted_and_new_tensors(tmp_path: Path) -> None:
    torch.manual_seed(7)
    spec = spec_from_text(RGB_SPEC)
    save_state_dict(export(build(spec), spec, "torchvision"), tmp_path / "tv.safetensors")
    pretrained = prepare(tmp_path / "tv.safetensors", spec_from_text(TINY_SPEC), "torchvision")
    text = load_table(pretrained.report, "tv.safetensors")
    assert text.splitlines()[0] == (
        "weights from tv.safetensors (torchvision layout): 35 tensors loaded, 1 adapted, 2 new, 0 in the file unused"
    )
    rows = [line.split() for line in text.splitlines()]
    assert ["stem", "5", "1", "0"] in rows and ["stage2", "18", "0", "0"] in rows and ["head", "0", "0", "2"] in rows
    assert "  stem.conv.weight  adapted  8x1x3x3  8x3x3x3  input channels 3 -> 1" in text
    assert "  head.fc.weight    new      10x16    12x16    12 classes there, 10 in tiny: re-initialised" in text


def test_init_from_a_run_folder_reads_its_best_checkpoint(finetuned: tuple[Path, Path, Path]) -> None:
    _, spec_file, run = finetuned
    pretrained = prepare(run, load_spec(str(spec_file)))
    assert pretrained.source == run / "checkpoints" / "best.pt" and pretrained.layout == "archspec"
    assert not pretrained.report.adapted and not pretrained.report.missing


def test_freeze_stops_gradients_and_keeps_batch_norm_statistics() -> None:
    spec = spec_from_text(TINY_SPEC)
    model = build(spec)
    freeze(model, ["stem"])
    before = model.stem.norm.running_mean.clone()
    model.train()
    model(torch.randn(4, 1, 28, 28) + 3).sum().backward()
    assert model.stem.conv.weight.grad is None and model.stage1[0].main.conv1.weight.grad is not None
    assert torch.equal(model.stem.norm.running_mean, before)
    assert not torch.equal(model.stage1[0].main.norm1.running_mean, torch.zeros(8))


def test_head_lr_scale_puts_the_head_in_its_own_group() -> None:
    model = build(spec_from_text(TINY_SPEC))
    recipe = load_recipe("d2l", ["head_lr_scale=10"])
    body, head = param_groups(model, recipe, 0.05)
    assert head["lr"] == pytest.approx(0.5) and len(head["params"]) == 2
    assert len(body["params"]) + 2 == len(list(model.parameters()))
    assert len(param_groups(model, load_recipe("d2l"), 0.05)) == 1  # unchanged optimizer state for old runs


def _no_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> None:
    run = tmp_path / "run"
    assert main([*args, "--out", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert not run.exists()


def test_bad_init_from_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    foreign = tmp_path / "resnet18.pth"
    resnet18 = load_spec("resnet18")
    save_state_dict(export(build(resnet18), resnet18, "torchvision"), foreign)
    base = ["train", str(spec), *TINY_SETS, *DATA]
    _no_run(tmp_path, capsys, [*base, "--init-from", str(foreign)], "not an archspec checkpoint; say how its tensors "
            "are named with --layout (archspec, torchvision, timm, d2l)")  # fmt: skip
    _no_run(tmp_path, capsys, [*base, "--init-from", str(foreign), "--layout", "torchvision"],
            "conv1.weight has shape (64, 3, 7, 7), but tiny needs (8, 1, 3, 3) there")  # fmt: skip
    _no_run(tmp_path, capsys, [*base, "--layout", "timm"], "--layout names the layout of --init-from FILE")
    _no_run(tmp_path, capsys, [*base, "--set", "freeze=[stage3]"], "freeze: tiny has no stage3; choose from stem, "
            "stage1, stage2")  # fmt: skip
    _no_run(tmp_path, capsys, [*base, "--init-from", str(tmp_path / "nowhere.pt")], "nowhere.pt: no such file")
