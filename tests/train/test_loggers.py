"""Loggers as callbacks (archspec.train.loggers): a run logged to TensorBoard holds the metrics.csv values per
epoch, per-step scalars, the hyperparameters, the curves and the confusion matrix; a resumed run appends
without a step twice; a logger that fails warns once and training goes on; an unknown name or a missing extra
is one line, exit 2. MLflow's logger: tests/train/test_tracking.py."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from helpers import TINY_SETS, assert_one_line_error, cli

pytest.importorskip("tensorboard", reason="archspec[tensorboard] is not installed")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from archspec.train.loggers import TENSORBOARD_DIR, TensorBoardLogger, flatten

DATA = ["--data-dir", "sample", "--max-train", "200", "--max-test", "100", "--quiet", "--recipe", "d2l"]


def events(run: Path) -> Any:
    accumulator = EventAccumulator(str(run / TENSORBOARD_DIR), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_holds_the_metrics_and_a_resume_appends(tiny_spec: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = cli("train", tiny_spec, *DATA, *TINY_SETS, "--set", "epochs=1", "--out", run, "--log", "tensorboard")
    assert first.returncode == 0, first.stderr
    again = cli("train", "--resume", run, "--set", "epochs=2", "--quiet", "--log", "tensorboard")
    assert again.returncode == 0, again.stderr
    board = events(run)
    with (run / "metrics.csv").open() as file:
        rows = list(csv.DictReader(file))
    for key in ("test_acc", "train_loss", "lr", "examples_per_sec"):
        logged = [event.value for event in board.Scalars(f"epoch/{key}")]
        assert logged == pytest.approx([float(row[key]) for row in rows], rel=1e-6), key
    steps = [event.step for event in board.Scalars("step/train_loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 2 * 7  # 200 images in batches of 32: 7 steps an epoch
    assert sorted(board.Tags()["images"]) == ["confusion_matrix", "curves"]
    assert {"spec/text_summary", "recipe/text_summary"} <= set(board.Tags()["tensors"])
    confusion = board.Images("confusion_matrix")  # one per epoch, at its last step, as large as plot_confusion's
    assert [image.step for image in confusion] == [7, 14] and (confusion[-1].width, confusion[-1].height) == (720, 640)


def test_a_failing_logger_warns_once_and_stops() -> None:
    lines: list[str] = []
    logger = TensorBoardLogger(lines.append)
    logger.writer = object()  # no add_scalar: every write fails
    logger.steps = 1
    logger.on_epoch_end(1, {"epoch": 1, "test_acc": 0.5})
    logger.on_epoch_end(2, {"epoch": 2, "test_acc": 0.5})
    assert len(lines) == 1 and "could not log epoch 1" in lines[0] and "training goes on" in lines[0]


def test_flatten_names_paths_as_set_does() -> None:
    assert dict(flatten({"optimizer": {"lr": 0.1}, "stages": [{"channels": 8}]})) == {
        "optimizer.lr": 0.1,
        "stages[0].channels": 8,
    }


def test_refusals(tiny_spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "never"
    assert_one_line_error(cli("train", tiny_spec, *DATA, "--log", "wandb", "--out", out), "unknown logger 'wandb'",
                          "tensorboard")  # fmt: skip
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name))
    assert_one_line_error(cli("train", tiny_spec, *DATA, "--log", "tensorboard", "--out", out),
                          "archspec[tensorboard]")  # fmt: skip
    assert not out.exists()
