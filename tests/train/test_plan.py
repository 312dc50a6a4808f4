"""The run plan refuses before any image is decoded, and callbacks carry what a run tells the world: a user's own
callback sees every hook in order, and one that raises stops the run after a complete, resumable epoch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from helpers import TINY_SETS, TINY_SPEC, cli

from archspec.arch.validate import spec_from_text
from archspec.artifacts.checkpoint import Checkpoint, load_checkpoint
from archspec.artifacts.rundir import RunDir
from archspec.errors import ArchspecError
from archspec.recipe.schema import load_recipe
from archspec.train.callbacks import Callback, Start, StepUpdate
from archspec.train.runs import DataOptions, RunOptions, execute, plan_from_rundir, plan_run

RECIPE = [item for item in TINY_SETS if item != "--set"]
DATA = DataOptions("sample", 64, 32)


def test_a_folder_another_process_writes_is_refused_before_any_decoding(
    tiny_spec: Path, tmp_path: Path, private_cache: Path
) -> None:
    out = tmp_path / "run"
    with RunDir(out).lock():  # as another `archspec train --out run` would hold it
        done = cli("train", tiny_spec, *TINY_SETS, "--out", out, "--data-dir", "sample", "--max-train", "64")
    assert done.returncode == 2 and "another archspec process" in done.stderr, done.stderr
    assert not private_cache.exists()  # nothing was decoded
    assert not (out / RunDir.SPEC).exists()


def test_plan_run_refuses_a_held_folder_and_releases_it_when_closed(tmp_path: Path) -> None:
    spec, recipe = spec_from_text(TINY_SPEC), load_recipe("d2l", [*RECIPE, "epochs=1"])
    plan = plan_run(spec, recipe, RunOptions(tmp_path / "run", DATA, quiet=True, log=lambda _: None))
    with pytest.raises(ArchspecError, match="another archspec process"):
        plan_run(spec, recipe, RunOptions(tmp_path / "run", DATA))
    plan.close()
    assert not (tmp_path / "run").exists()  # planned, never run: no folder left behind
    again = plan_run(spec, recipe, RunOptions(tmp_path / "run", DATA, quiet=True, log=lambda _: None))
    execute(again)
    assert RunDir(tmp_path / "run").has_checkpoint()


class Recorder(Callback):
    """Every hook, in order; raises after `stop_after` epochs."""

    step_every = 1

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[str] = []
        self.stop_after = stop_after

    def on_start(self, start: Start) -> None:
        self.calls.append(f"start {start.first_epoch}")

    def on_epoch_start(self, epoch: int, total: int) -> None:
        self.calls.append(f"epoch {epoch} of {total}")

    def on_step(self, update: StepUpdate) -> None:
        assert 0 < update.step <= update.steps and update.examples > 0 and update.loss > 0
        if f"step {update.epoch}" not in self.calls:
            self.calls.append(f"step {update.epoch}")

    def on_checkpoint(self, path: Path, checkpoint: Checkpoint) -> None:
        self.calls.append(f"{path.name} {checkpoint.epoch}")

    def on_epoch_end(self, epoch: int, row: Mapping[str, float]) -> None:
        self.calls.append(f"end {epoch} {row['epoch']}")
        if epoch == self.stop_after:
            raise KeyboardInterrupt  # as a user's Ctrl-C would, from inside the loop

    def on_end(self, history: Sequence[Mapping[str, float]]) -> None:
        self.calls.append(f"done {len(history)}")


def test_a_callback_sees_the_run_and_may_stop_it_after_a_complete_epoch(tmp_path: Path) -> None:
    spec, recipe = spec_from_text(TINY_SPEC), load_recipe("d2l", [*RECIPE, "epochs=2"])
    stopper = Recorder(stop_after=1)
    with pytest.raises(KeyboardInterrupt):
        execute(plan_run(spec, recipe, RunOptions(tmp_path / "run", DATA, quiet=True, log=lambda _: None)), [stopper])
    assert stopper.calls == ["start 1", "epoch 1 of 64", "step 1", "last.pt 1", "best.pt 1", "end 1 1"]
    assert load_checkpoint(RunDir(tmp_path / "run").last).epoch == 1
    recorder = Recorder()
    execute(plan_from_rundir(tmp_path / "run", options=RunOptions(quiet=True, log=lambda _: None)), [recorder])
    assert recorder.calls[:3] == ["start 2", "epoch 2 of 64", "step 2"]
    assert recorder.calls[-2:] == ["end 2 2", "done 2"] and "last.pt 2" in recorder.calls


def test_a_run_folder_is_evaluated_on_the_data_it_was_trained_on(tmp_path: Path) -> None:
    """`archspec evaluate RUN` after `train --data-dir sample --max-test 32`: the sample's 32 test images, not a
    download of the full dataset (run.json's data options, as --resume uses them); an option given still wins."""
    from archspec.train.runs import evaluate_checkpoint

    spec, recipe = spec_from_text(TINY_SPEC), load_recipe("d2l", [*RECIPE, "epochs=1"])
    execute(plan_run(spec, recipe, RunOptions(tmp_path / "run", DATA, quiet=True, log=lambda _: None)))
    assert int(evaluate_checkpoint(tmp_path / "run").matrix.sum()) == 32
    assert int(evaluate_checkpoint(tmp_path / "run", DataOptions(None, None, 16)).matrix.sum()) == 16
    held = cli("train", "--resume", tmp_path / "run", "--set", "epochs=2", "--quiet")
    assert held.returncode == 0, held.stderr
    with RunDir(tmp_path / "run").lock():  # another process training into it: named as such, not "holds a run"
        (tmp_path / "spec.yaml").write_text(TINY_SPEC)
        done = cli("train", tmp_path / "spec.yaml", *TINY_SETS, "--out", tmp_path / "run")
    assert done.returncode == 2 and "another archspec process" in done.stderr, done.stderr


def test_under_torchrun_restarts_the_run_folder_is_named_by_the_rendezvous(monkeypatch: pytest.MonkeyPatch) -> None:
    from archspec.train.distributed import Elastic
    from archspec.train.plan import default_run_dir

    spec = spec_from_text(TINY_SPEC)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job7")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    monkeypatch.setenv("TORCHELASTIC_MAX_RESTARTS", "3")
    elastic = Elastic.from_environment()
    assert elastic == Elastic("job7", 1, 3) and elastic.restarted
    assert default_run_dir(spec, elastic) == Path("runs/tiny-job7")  # every attempt arrives at it
    assert default_run_dir(spec, Elastic("job7", 0, 0)).name.startswith("tiny-2")  # no restarts: a timestamp
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")  # torchrun's default --rdzv-id names nothing
    with pytest.raises(ArchspecError, match=r"give --out RUN_DIR .* or torchrun --rdzv-id NAME"):
        default_run_dir(spec, Elastic.from_environment())
