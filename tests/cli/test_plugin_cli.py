"""Every command on a spec whose blocks come from a plugin: with the example plugin (archspec-eca) installed,
`archspec kinds` lists it, `check` verifies its primitive, and a spec using it (its gate in every block, its
blur-pool shortcut where a block projects) trains an epoch on the sample, sweeps over the plugin's own field,
exports to ONNX, predicts, and its weights leave and come back in the archspec layout (another codebase's layout
names the gate it lacks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error
from PIL import Image
from plugins import SPEC, install_example, run_with


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_example(tmp_path_factory)


def test_kinds_lists_the_plugin_beside_archspec_and_diff_shows_its_fields(site: Path, tmp_path: Path) -> None:
    dot = tmp_path / "eca.dot"
    table, as_json, diff, drawn = run_with(site, ["kinds"], ["kinds", "--format", "json"],
                                           ["diff", "fashion-resnet", SPEC],
                                           ["draw", SPEC, "--depth", "layer", "--out", dot])  # fmt: skip
    assert drawn.returncode == 0, drawn
    assert "eca_gate (archspec-eca)" in dot.read_text()  # draw words a plugin's primitive by its name
    assert table.returncode == 0 and table.stderr == "", table
    rows = [line.split()[:3] for line in table.stdout.splitlines()]
    assert ["block", "eca_basic", "archspec-eca"] in rows and ["primitive", "eca_gate", "archspec-eca"] in rows
    assert ["block", "basic", "archspec"] in rows and ["shortcut", "zero_pad", "archspec"] in rows
    listed = {(row["kind"], row["name"]): row["package"] for row in json.loads(as_json.stdout)["kinds"]}
    assert listed[("block", "eca_bottleneck")] == "archspec-eca" and listed[("stem", "cifar")] == "archspec"
    assert diff.returncode == 0 and "block.kind: 'basic' -> 'eca_basic'" in diff.stdout, diff


@pytest.mark.slow
def test_a_plugin_spec_goes_through_every_command(site: Path, tmp_path: Path) -> None:
    run, onnx_file, weights = tmp_path / "run", tmp_path / "eca.onnx", tmp_path / "eca.safetensors"
    image = tmp_path / "image.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)).save(image)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"name: eca-kernels\nspec: {SPEC}\nrecipe: fashion-best\noverrides: [recipe.epochs=1]\n"
                     "space:\n  block.eca.kernel_size: {choice: [1, 3]}\nobjectives: [accuracy]\nn_trials: 2\n"
                     "sampler: {kind: random, seed: 0}\n"
                     "data: {data_dir: sample, max_train: 32, max_test: 16}\n")  # fmt: skip
    check, train, export, predict_run, predict_onnx, out, back, timm, swept = run_with(
        site,
        ["check", SPEC, "--examples", "3", "--seed", "1"],
        ["train", SPEC, "--recipe", "fashion-best", "--data-dir", "sample", "--max-train", "64", "--max-test", "32",
         "--set", "epochs=1", "--set", "block.shortcut.kind=blur_conv_norm", "--quiet", "--out", run],
        ["export", run, "--format", "onnx", "--out", onnx_file],
        ["predict", run, image, "--format", "json"],
        ["predict", onnx_file, image, "--format", "json"],
        ["weights", "export", run, "--layout", "archspec", "--out", weights],
        ["weights", "import", weights, "--layout", "archspec", "--spec", SPEC, "--out", tmp_path / "back.pt"],
        ["weights", "export", run, "--layout", "timm", "--out", tmp_path / "timm.safetensors"],
        ["sweep", sweep, "--out", tmp_path / "sweep"],
    )  # fmt: skip
    assert check.returncode == 0, check
    assert "variants of eca-fashion have every property" in check.stdout and "plugin primitives" in check.stdout
    assert train.returncode == 0, train
    assert export.returncode == 0 and "max |export - eager|" in export.stdout, export
    assert predict_run.returncode == predict_onnx.returncode == 0, (predict_run, predict_onnx)
    (eager,), (exported,) = json.loads(predict_run.stdout), json.loads(predict_onnx.stdout)
    assert [top["class"] for top in eager["top"]] == [top["class"] for top in exported["top"]]
    assert [top["probability"] for top in eager["top"]] == pytest.approx([t["probability"] for t in exported["top"]],
                                                                         abs=1e-4)  # fmt: skip
    assert out.returncode == 0 and back.returncode == 0 and "into eca-fashion" in back.stdout, (out, back)
    assert_one_line_error(timm, "stage1.0.main.eca (eca_gate, a primitive of the plugin archspec-eca) has no "
                          "counterpart in the timm layout")  # fmt: skip
    assert swept.returncode == 0, swept
    assert len(list((tmp_path / "sweep").rglob("best.pt"))) >= 1
