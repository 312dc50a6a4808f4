"""The one classifier of sources (config.sources): inline YAML, bundled names, files, checkpoints, run folders
and exports, on the command line and inside a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from archspec.artifacts.rundir import RunDir
from archspec.config.sources import classify, find_source
from archspec.errors import SpecError
from archspec.spec.presets import preset_dir


def test_each_kind_of_source_is_told_apart(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / RunDir.CHECKPOINTS).mkdir(parents=True)
    (tmp_path / "plain").write_text("name: x\n")
    kinds = {
        "{name: x}": "inline", "name: x\nstages: []\n": "inline", "resnet50": "bundled", "resnet5": "unknown",
        str(tmp_path / "x.yaml"): "file", str(tmp_path / "plain"): "file", str(run): "run",
        str(tmp_path / "last.pt"): "checkpoint", str(tmp_path / "m.onnx"): "export", str(tmp_path / "m.pt2"): "export",
    }  # fmt: skip
    got = {text: classify(text, preset_dir(), is_run=RunDir.is_run).kind for text in kinds}
    assert got == kinds
    assert classify(run, preset_dir()).kind == "file"  # no is_run given: this caller takes no run folders


def test_inside_a_file_a_bare_word_is_a_name_and_paths_are_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "resnet50").write_text("not this one")
    found = classify("resnet50", preset_dir(), named_in=tmp_path)
    assert found.kind == "bundled" and found.path == preset_dir() / "resnet50.yaml"
    assert classify("base.yaml", preset_dir(), named_in=tmp_path).path == tmp_path / "base.yaml"
    with pytest.raises(SpecError, match=r"unknown spec 'base.yaml': no file .*base\.yaml \(a path is relative to"):
        find_source("base.yaml", preset_dir(), "spec", named_in=tmp_path)
    with pytest.raises(SpecError, match=r"^unknown base 'resnet5'; choose from .* \(did you mean 'resnet50'\?\)$"):
        find_source("resnet5", preset_dir(), "base", named_in=tmp_path)
    with pytest.raises(SpecError, match=r"^resnet5: no such file, and no bundled spec of that name; bundled: "):
        find_source("resnet5", preset_dir(), "spec")
