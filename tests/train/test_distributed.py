"""torchrun data-parallel training: a real 2-process gloo job agrees with one process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import DDP_DATA, DDP_SETS, NORM_FREE_SPEC, assert_same_training, cli_env, read_metrics, torchrun

from archspec import ArchspecError, build
from archspec.arch.validate import spec_from_text
from archspec.train.distributed import World

ODD_TRAIN = 641  # 20 batches of 32, then 1: one process gets it, the other an empty share


def train(spec: Path, out: Path, processes: int, *extra: str) -> subprocess.CompletedProcess[str]:
    """`archspec train` into `out`, or with --resume `out`, under torchrun when `processes` > 1."""
    launcher = torchrun("--nproc-per-node", str(processes), "--standalone") if processes > 1 else [sys.executable]
    where = [] if "--resume" in extra else ["--out", str(out)]
    command = [*launcher, "-m", "archspec", "train", str(spec), *DDP_SETS, *DDP_DATA, *where, *extra]
    done = subprocess.run(command, capture_output=True, text=True, env=cli_env(), timeout=600)
    if done.returncode != 0 and processes > 1 and "(SIGABRT)" in done.stderr:
        # On a loaded machine a gloo rank has aborted inside torch ("terminate called without an active
        # exception", once in about 20 runs here; pytorch/gloo#514 is one such abort). A user resumes then,
        # and resuming must reach the same numbers, so the test does that, once.
        retry = [a for a in command if a not in ("--out", str(out)) and a != "--resume"]
        again = subprocess.run([*retry, "--resume", str(out)], capture_output=True, text=True, env=cli_env(),
                               timeout=600)  # fmt: skip
        assert again.returncode == 0, done.stderr + again.stdout + again.stderr
        return subprocess.CompletedProcess(again.args, 0, done.stdout + again.stdout, done.stderr + again.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_and_resume(tmp_path: Path) -> None:
    spec = tmp_path / "norm-free.yaml"
    spec.write_text(NORM_FREE_SPEC)
    odd = ["--max-train", str(ODD_TRAIN)]
    train(spec, tmp_path / "one", 1, "--set", "epochs=3", *odd)
    # two processes train two epochs, stop, and resume with two processes: together, the one-process run
    two = train(spec, tmp_path / "two", 2, "--set", "epochs=2", *odd)
    assert "2 processes (batch 16 each)" in two.stdout
    epochs = [line.split(":")[0] for line in two.stdout.splitlines() if line.startswith("epoch ")]
    assert epochs and len(epochs) == len(set(epochs))  # rank 0 only: no "epoch N/2" twice
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    train(spec, tmp_path / "two", 2, "--resume", str(tmp_path / "two"), "--set", "epochs=3", *odd)
    single, double = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "two")
    assert double[-1]["train_loss"] < double[0]["train_loss"]  # it learns
    assert_same_training(single, double, ODD_TRAIN)


def test_sync_batchnorm_on_cpu_is_a_clear_error() -> None:
    model = build(spec_from_text(NORM_FREE_SPEC))
    with pytest.raises(ArchspecError, match="SyncBatchNorm runs only on GPUs"):
        World(rank=0, size=2).wrap(model, torch.device("cpu"), sync_batchnorm=True)


def test_one_process_world_is_a_no_op() -> None:
    world = World()
    batch = torch.arange(6)
    assert world.shard(batch) is batch and world.broadcast("x") == "x"
    assert torch.equal(World(rank=1, size=2).shard(batch), torch.tensor([1, 3, 5]))
    assert World().share(7, 15) == 1.0 and World(rank=1, size=2).share(8, 16) == 1.0  # equal shares: unchanged
    assert World(rank=0, size=2).share(8, 15) + World(rank=1, size=2).share(7, 15) == 2.0
