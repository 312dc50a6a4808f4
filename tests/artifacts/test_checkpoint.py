"""Checkpoints and resume: atomic files, corrupt ones refused in one line, SIGKILL-and-resume equals an
uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers import TINY_SETS, TINY_SPEC, assert_one_line_error, cli, cli_env, run_cli

from archspec.arch.validate import spec_from_text
from archspec.artifacts.checkpoint import checkpoint_spec, load_checkpoint, save_checkpoint
from archspec.errors import CheckpointError
from archspec.recipe.schema import load_recipe
from archspec.train.runs import DataOptions, train_run

TIMING = ("examples_per_sec", "wall_seconds")
# 3 epochs of 1,500 images: each epoch takes a second or more on one core, long enough to be killed inside.
RUN = ["--data-dir", "sample", "--max-train", "1500", "--max-test", "200", "--quiet", *TINY_SETS, "--set", "epochs=3"]
# every recipe field that draws random numbers or keeps state across epochs (issue 20), so resume repeats them;
# progressive_resize trains the killed epoch 2 at 24x24
EVERYTHING = ["augment.mixup=0.2", "augment.cutmix=1.0", "augment.switch_prob=0.5", "augment.mix_prob=0.8",
              "augment.policy=randaugment", "augment.flip=true", "augment.erasing=0.25",
              "ema={decay: 0.9, warmup: 5, every: 2, test_every: 2}", "clip_grad_norm=5.0",
              "schedule={kind: multistep, milestones: [2], gamma: 0.5}",
              "progressive_resize={size: 16, ramp: [1, 3]}"]  # fmt: skip
RUN += [arg for item in EVERYTHING for arg in ("--set", item)]


def metrics(run_dir: Path) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{key: value for key, value in row.items() if key not in TIMING} for row in rows]


@pytest.mark.slow
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path: Path, tiny_spec: Path) -> None:
    reference = tmp_path / "reference"
    run_cli("train", tiny_spec, *RUN, "--out", reference, check=True)

    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "archspec", "train", str(tiny_spec), *RUN, "--out", str(killed)]
    process = subprocess.Popen(command, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (killed / "metrics.jsonl").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # well inside epoch 2
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    completed = load_checkpoint(killed / "checkpoints" / "last.pt").epoch
    assert 1 <= completed < 3, "the run was not killed mid-way; make the epochs longer"
    assert not [p for p in killed.rglob("*.tmp")], "a half-written file was left behind"

    resumed = run_cli("train", "--resume", killed, "--quiet", check=True)
    assert f"resuming {killed} after epoch {completed} of 3" in resumed.stdout
    assert metrics(killed) == metrics(reference)
    final, expected = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (killed, reference))
    assert all(torch.equal(final.model[name], expected.model[name]) for name in expected.model)
    assert final.training is not None and expected.training is not None
    assert final.training.ema is not None and expected.training.ema is not None
    assert final.training.ema["updates"] == expected.training.ema["updates"]
    averaged, reference_average = final.training.ema["weights"], expected.training.ema["weights"]
    assert all(torch.equal(averaged[name], reference_average[name]) for name in reference_average)


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "one"
    recipe = load_recipe("d2l", ["resize=null", "epochs=1", "batch_size=50"])
    train_run(
        spec_from_text(TINY_SPEC), recipe, run_dir, DataOptions("sample", 200, 100), quiet=True, log=lambda _: None
    )
    return run_dir / "checkpoints" / "last.pt"


def test_checkpoint_holds_everything_needed_to_resume(one_epoch: Path) -> None:
    checkpoint = load_checkpoint(one_epoch)
    state = torch.load(one_epoch, weights_only=True)
    assert state["epoch"] == 1 and state["spec_hash"].startswith("sha256:")
    assert {"model", "optimizer", "scheduler", "rng", "spec_text", "recipe_text", "metrics"} <= set(state)
    assert checkpoint.epoch == 1 and checkpoint.training is not None and len(checkpoint.metrics) == 1
    assert checkpoint_spec(checkpoint, one_epoch).name == "tiny"


def test_spec_hash_mismatch_is_refused(one_epoch: Path, tmp_path: Path) -> None:
    other = spec_from_text(TINY_SPEC.replace("channels: 16", "channels: 24"))
    with pytest.raises(CheckpointError, match=r"checkpoint is for spec hash sha256:.* but the spec given is sha256:"):
        checkpoint_spec(load_checkpoint(one_epoch), one_epoch, other)
    spec_file = tmp_path / "other.yaml"
    spec_file.write_text(TINY_SPEC.replace("channels: 16", "channels: 24"))
    result = cli("train", spec_file, "--resume", one_epoch.parent.parent)
    assert_one_line_error(result, "refusing to load mismatched weights")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "foreign"])
def test_corrupt_checkpoint_is_a_checkpoint_error(one_epoch: Path, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "damaged.pt"
    raw = one_epoch.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(4096))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match=f"^{path}: "):
        load_checkpoint(path)


def test_cli_truncated_checkpoint_is_one_line_exit_2(one_epoch: Path, tmp_path: Path) -> None:
    path = tmp_path / "truncated.pt"
    path.write_bytes(one_epoch.read_bytes()[:1000])
    result = cli("evaluate", path, "--data-dir", "sample")
    assert_one_line_error(result, f"{path}: not a readable checkpoint")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")  # torch's own reason for it is an empty EOFError
    assert_one_line_error(cli("evaluate", empty, "--data-dir", "sample"), f"{empty}: empty file (0 bytes)")


def test_save_is_atomic(one_epoch: Path, tmp_path: Path) -> None:
    path = tmp_path / "ckpt" / "last.pt"
    first = load_checkpoint(one_epoch)
    save_checkpoint(path, first)
    save_checkpoint(path, replace(first, epoch=0, metrics=(), training=None))
    assert torch.load(path, weights_only=True)["epoch"] == 0
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]
