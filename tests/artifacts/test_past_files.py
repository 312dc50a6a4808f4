"""Files written by past releases still work with today's code: for every folder under tests/fixtures/ (one per
release that changed a file format, made by tests/fixtures/make_fixtures.py), its run folder and loose checkpoint
evaluate to the accuracy that release printed, the run resumes for one more epoch, the run folder, the
checkpoint and the ONNX export predict the classes that release predicted, and the checkpoint exports again.
Each test works on a copy in tmp_path: tests/fixtures/ is never written."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FOLDERS = sorted(path.parent.name for path in FIXTURES.glob("*/MANIFEST.json"))


@pytest.fixture(params=FOLDERS)
def past(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any]:
    """(a copy of one fixture folder, its manifest); decoding goes to a private cache, not ~/.cache/archspec."""
    monkeypatch.setenv("ARCHSPEC_CACHE", str(tmp_path / "cache"))
    copy = shutil.copytree(FIXTURES / request.param, tmp_path / request.param)
    return copy, json.loads((copy / "MANIFEST.json").read_text())


def ok(*args: str | Path) -> str:
    """`archspec ARGS` in-process; its stdout, or a failure with both streams."""
    done = cli(*args)
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return done.stdout


def top1(folder: Path, manifest: Any, model: str | Path) -> dict[str, str]:
    """Image (as the manifest names it) -> top class, from `archspec predict --format json`, run in `folder`."""
    images = [folder / name for name in manifest["files"]["images"]]
    rows = json.loads(ok("predict", folder / model, *images, "--format", "json", "--top-k", "3"))
    for row in rows:
        assert {top["class"] for top in row["top"]} <= set(manifest["expected"]["classes"]), row
    return {Path(row["path"]).relative_to(folder).as_posix(): row["top"][0]["class"] for row in rows}


def test_the_release_before_the_typed_checkpoint_is_kept() -> None:
    """Issue 17's baseline: the files of ad15c4b, the last release with the untyped checkpoint dict."""
    assert "ad15c4b" in FOLDERS, f"tests/fixtures/ad15c4b is missing (found {FOLDERS})"


def test_evaluates_to_the_accuracy_it_was_written_with(past: tuple[Path, Any], tmp_path: Path) -> None:
    folder, manifest = past
    expected = manifest["expected"]["test_accuracy"]
    for model in (manifest["files"]["run"], manifest["files"]["checkpoint"]):
        printed = ok("evaluate", folder / model, *manifest["data"]["evaluate"], "--device", "cpu",
                     "--png", tmp_path / "confusion.png")  # fmt: skip
        found = re.search(r"^test acc ([0-9.]+) \(([\d,]+)/([\d,]+)\)$", printed, re.MULTILINE)
        assert found is not None, printed
        got = (float(found[1]), int(found[2].replace(",", "")), int(found[3].replace(",", "")))
        assert got == (expected["accuracy"], expected["correct"], expected["images"]), (model, printed)


def test_resumes_for_one_more_epoch(past: tuple[Path, Any]) -> None:
    folder, manifest = past
    run = folder / manifest["files"]["run"]
    epochs = manifest["expected"]["epochs"]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == epochs
    ok("train", "--resume", run, "--set", f"epochs={epochs + 1}", "--quiet", "--device", "cpu")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == list(range(1, epochs + 2))
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "checkpoints" / "best.pt").is_file()


def test_predicts_the_classes_it_was_written_with(past: tuple[Path, Any]) -> None:
    folder, manifest = past
    files = manifest["files"]
    by_checkpoint = top1(folder, manifest, files["checkpoint"])
    assert by_checkpoint == manifest["expected"]["top1"]
    assert top1(folder, manifest, files["run"]) == by_checkpoint
    assert top1(folder, manifest, files["onnx"]) == by_checkpoint


@pytest.mark.slow  # torch.onnx.export itself takes most of ten seconds
def test_exports_again(past: tuple[Path, Any], tmp_path: Path) -> None:
    folder, manifest = past
    again = tmp_path / "again.onnx"
    ok("export", folder / manifest["files"]["checkpoint"], "--format", "onnx", "--out", again)
    assert top1(folder, manifest, again) == manifest["expected"]["top1"]
