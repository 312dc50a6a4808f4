"""File formats have versions: an older file is migrated on load (and by `archspec upgrade`, atomically),
a newer one is refused in one line naming both versions, for checkpoints, run records and export metadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import cli

from archspec.artifacts.checkpoint import Checkpoint, load_checkpoint
from archspec.artifacts.metadata import FORMAT_KEY, ModelFileError, parse_metadata
from archspec.artifacts.migrations import CHECKPOINT, EXPORT, RUN_INFO
from archspec.errors import CheckpointError

PAST = Path(__file__).resolve().parents[1] / "fixtures" / "ad15c4b"


@pytest.fixture
def past(tmp_path: Path) -> Path:
    """A copy of the run folder, checkpoint and ONNX export archspec 0.1 (ad15c4b) wrote."""
    return Path(shutil.copytree(PAST, tmp_path / "past"))


def one_line_error(*args: str | Path) -> str:
    done = cli(*args)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, (done.stdout, done.stderr)
    return done.stderr


def test_a_format_1_checkpoint_reads_as_the_current_type(past: Path) -> None:
    raw = torch.load(past / "checkpoint.pt", weights_only=True)
    assert raw["format"] == "archspec-checkpoint/1" and "archspec" not in raw
    checkpoint = load_checkpoint(past / "checkpoint.pt")
    assert checkpoint.read_format == 1 and checkpoint.outdated and checkpoint.written_by == "0.1.0 or earlier"
    assert checkpoint.classes is not None and len(checkpoint.classes) == checkpoint.spec.head.num_classes
    assert checkpoint.training is not None and len(checkpoint.metrics) == checkpoint.epoch


def test_a_newer_checkpoint_is_refused_naming_both_versions(past: Path, tmp_path: Path) -> None:
    state = torch.load(past / "checkpoint.pt", weights_only=True)
    newer = tmp_path / "newer.pt"
    torch.save({**state, "format": f"archspec-checkpoint/{CHECKPOINT.current + 1}"}, newer)
    with pytest.raises(CheckpointError, match=rf"checkpoint format {CHECKPOINT.current + 1}\); .* up to "
                       rf"{CHECKPOINT.current}: upgrade archspec"):  # fmt: skip
        load_checkpoint(newer)
    for command in (["evaluate", newer], ["predict", newer, past / "inputs/images/test-0.png"], ["upgrade", newer]):
        assert f"format {CHECKPOINT.current + 1}" in one_line_error(*command)


def test_a_newer_run_record_is_refused_on_resume(past: Path) -> None:
    info = past / "run" / "run.json"
    info.write_text(json.dumps({**json.loads(info.read_text()), "format": f"archspec-run/{RUN_INFO.current + 3}"}))
    message = one_line_error("train", "--resume", past / "run", "--set", "epochs=3", "--quiet")
    assert f"run record format {RUN_INFO.current + 3}" in message and f"up to {RUN_INFO.current}" in message


def test_newer_export_metadata_is_refused(past: Path) -> None:
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(past / "model.onnx")).metadata_props}
    assert FORMAT_KEY not in meta  # 0.1's exports carried no format: they are format 1
    assert parse_metadata(meta, "old.onnx").classes  # read as they are
    with pytest.raises(ModelFileError, match=rf"export metadata format {EXPORT.current + 1}\)"):
        parse_metadata({**meta, FORMAT_KEY: str(EXPORT.current + 1)}, "new.onnx")


def test_upgrade_rewrites_a_run_folder_and_its_files_stay_equivalent(past: Path) -> None:
    before = load_checkpoint(past / "run" / "checkpoints" / "best.pt")
    printed = cli("upgrade", past / "run").stdout
    assert printed.count("upgraded from format 1 to 2") == 3, printed  # best.pt, last.pt, run.json
    after = load_checkpoint(past / "run" / "checkpoints" / "best.pt")
    assert after.read_format == CHECKPOINT.current and not after.outdated
    assert all(torch.equal(after.model[name], before.model[name]) for name in before.model)
    assert (after.classes, after.preprocess, after.metrics) == (before.classes, before.preprocess, before.metrics)
    assert json.loads((past / "run" / "run.json").read_text())["format"] == f"archspec-run/{RUN_INFO.current}"
    assert "already format 2" in cli("upgrade", past / "run" / "checkpoints" / "best.pt").stdout
    assert "upgraded from format 1 to 2" in cli("upgrade", past / "model.onnx").stdout
    assert "already format 2" in cli("upgrade", past / "model.onnx").stdout
    ok = cli("evaluate", past / "run", "--data-dir", "sample", "--max-test", "48", "--png", past / "c.png")
    manifest = json.loads((past / "MANIFEST.json").read_text())
    assert ok.returncode == 0 and manifest["expected"]["test_accuracy"]["line"] in ok.stdout


def test_upgrade_of_a_damaged_run_writes_nothing(past: Path) -> None:
    last = past / "run" / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:500])
    files = {path: path.read_bytes() for path in (past / "run").rglob("*") if path.is_file()}
    assert "not a readable checkpoint" in one_line_error("upgrade", past / "run")
    assert {path: path.read_bytes() for path in (past / "run").rglob("*") if path.is_file()} == files


def test_upgrade_refuses_what_it_cannot_upgrade(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    assert "not a run folder" in one_line_error("upgrade", tmp_path / "folder")
    assert "no such run folder, checkpoint or export" in one_line_error("upgrade", tmp_path / "missing.pt")
    (tmp_path / "m.ts").write_bytes(b"x")
    assert "cannot be rewritten in place" in one_line_error("upgrade", tmp_path / "m.ts")


def test_the_checkpoint_type_round_trips_through_its_file(past: Path, tmp_path: Path) -> None:
    checkpoint = load_checkpoint(past / "checkpoint.pt")
    checkpoint.save(tmp_path / "again.pt")
    again = Checkpoint.load(tmp_path / "again.pt")
    assert again.to_state().keys() == checkpoint.to_state().keys()
    assert (again.epoch, again.classes, again.dataset, again.recipe_text) == (
        checkpoint.epoch, checkpoint.classes, checkpoint.dataset, checkpoint.recipe_text,
    )  # fmt: skip
