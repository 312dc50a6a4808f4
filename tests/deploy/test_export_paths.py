"""Export writes only where it should: a new path or a regular file that is not its own source; a failed or
interrupted export leaves no file, temporary or final."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import cli

from archspec import build, load_spec
from archspec.deploy.export import ExportError, export, export_source, is_checkpoint


def assert_refused(done: object, fragment: str) -> None:
    assert done.returncode == 2, done.stderr  # type: ignore[attr-defined]
    lines = done.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and fragment in lines[0], lines


def test_out_naming_a_folder_a_device_a_symlink_or_the_source_is_refused(tmp_path: Path) -> None:
    assert_refused(cli("export", "cifar-resnet20", "--format", "onnx", "--out", tmp_path), "is a folder")
    assert_refused(cli("export", "cifar-resnet20", "--format", "onnx", "--out", "/dev/null"), "not a regular file")
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "link.onnx"
    link.symlink_to(target)
    assert_refused(cli("export", "cifar-resnet20", "--format", "onnx", "--out", link), "symbolic link")
    spec = tmp_path / "net.yaml"
    spec.write_text((Path(__file__).parents[2] / "archspec/specs/cifar-resnet20.yaml").read_text())
    assert_refused(cli("export", spec, "--format", "onnx", "--out", spec), "the export's own source")
    assert target.read_text() == "keep me" and spec.read_text().startswith("#")


def test_a_failed_export_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import archspec.deploy.export as module

    def broken(*args: object) -> None:
        raise RuntimeError("the exporter failed")

    monkeypatch.setitem(module._WRITERS, "torchscript", broken)
    spec = load_spec("cifar-resnet20")
    with pytest.raises(RuntimeError):
        export(build(spec), spec, "torchscript", tmp_path / "net.ts")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_one_line_and_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:  # the data would not fit on the disk: the flush to it fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ExportError, match="No space left on device"):
        export_source("cifar-resnet20", "torchscript", tmp_path / "net.ts")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_names_over_255_bytes_are_one_line_errors(tmp_path: Path) -> None:
    assert_refused(cli("export", "x" * 300, "--format", "onnx"), "no such file")
    assert_refused(cli("export", "cifar-resnet20", "--format", "onnx", "--out", tmp_path / ("y" * 300)),
                   "File name too long")  # fmt: skip


def test_a_source_is_a_checkpoint_by_the_one_classifier(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    sources = (run, str(run), str(tmp_path / "a.pt"), "resnet50", "{name: x}", str(tmp_path / "x.yaml"), "x" * 300)
    assert [is_checkpoint(source) for source in sources] == [True, True, True, False, False, False, False]
