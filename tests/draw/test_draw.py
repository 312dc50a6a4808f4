"""archspec.draw and `archspec draw`: every preset drawn from its plan at each depth, what the boxes say,
a run folder's spec, the Graphviz source without Graphviz, and one-line refusals (invalid spec, a suffix it
cannot draw, the dot program missing).

Rendering SVG needs Graphviz's `dot` (apt-get install graphviz; .ci/run installs it): those tests skip
without it, the source-only ones run everywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import TINY_SPEC, assert_one_line_error, cli

from archspec.arch.validate import load_spec
from archspec.draw import DEPTHS, diagram, has_dot, render
from archspec.spec.presets import preset_names

needs_dot = pytest.mark.skipif(not has_dot(), reason="Graphviz's dot is not installed (apt-get install graphviz)")


@needs_dot
@pytest.mark.parametrize("name", preset_names())
def test_every_preset_renders(name: str, tmp_path: Path) -> None:
    out = render(load_spec(name), tmp_path / f"{name}.svg")
    assert out.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_the_boxes_say_kind_channels_stride_shape_and_cost() -> None:
    source = diagram(load_spec("resnet50"), "block").source
    assert "resnet50: 25.6M params · 4.09G MACs at 3x224x224" in source
    assert "stage2: 4 × bottleneck" in source and "blocks 2–4 (× 3): bottleneck, stride 1" in source
    assert "conv 1x1/2 256→512 · batch norm" in source  # stage 2's projection shortcut
    assert "→ 2048x7x7" in source and "identity" in source and "1000 classes" in source


def test_depths_grow_in_detail() -> None:
    spec = load_spec("resnet18")
    sizes = [len(diagram(spec, depth).body) for depth in DEPTHS]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    stage = diagram(spec, "stage").source
    assert "stage3: 2 × basic" in stage and "256 channels, stride 2" in stage


def test_cli_dot_source_needs_no_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    result = cli("draw", "d2l-resnet18", "--out", tmp_path / "d2l.dot", "--depth", "layer")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d2l.dot").read_text().startswith("digraph")
    missing = cli("draw", "d2l-resnet18", "--out", tmp_path / "d2l.svg")
    assert_one_line_error(missing, "apt-get install graphviz", "--out FILE.dot")


def test_cli_draws_a_run_folders_spec(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.yaml").write_text(TINY_SPEC)
    (run / "recipe.yaml").write_text("name: x\n")
    result = cli("draw", run, "--out", tmp_path / "tiny.gv", "--set", "stages[1].blocks=3")
    assert result.returncode == 0, result.stderr
    assert "blocks 2–3 (× 2)" in (tmp_path / "tiny.gv").read_text()


def test_cli_refusals(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY_SPEC.replace("stride: 2", "stride: 3"))
    assert_one_line_error(cli("draw", bad, "--out", tmp_path / "x.dot"), "stages[1].stride")
    assert_one_line_error(cli("draw", "resnet18", "--out", tmp_path / "x.jpeg"), "x.jpeg", ".svg")
    assert_one_line_error(cli("draw", tmp_path, "--out", tmp_path / "x.dot"), "not a run folder")
    assert not list(tmp_path.glob("x.*"))
