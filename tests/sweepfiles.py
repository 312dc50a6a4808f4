"""Sweep files for the sweep tests: a tiny space around a tiny spec, trained on the bundled sample."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

# Each candidate trains 2 epochs over 200 sample images (4-to-8-channel widths): about a second on one idle core.
TINY_SWEEP = """\
name: tiny-sweep
spec:
  name: tiny
  input: {channels: 1, height: 28, width: 28}
  stem: {channels: 4, kernel_size: 3, stride: 1}
  block: {kind: basic}
  stages:
    - {channels: 4, blocks: 1}
    - {channels: 8, blocks: 1, stride: 2}
  head: {num_classes: 10}
recipe: fashion-best
overrides: [recipe.epochs=2, recipe.batch_size=50, recipe.augment.flip=false, recipe.eval_batch_size=100]
space:
  stages[*].blocks: {int: [1, 2]}
  stem.channels: {choice: [4, 96]}
  stages[1].stride: {choice: [2, 3]}
  recipe.optimizer.lr: {log: [0.0003, 0.01]}
constraints: {max_macs: 2_000_000}
n_trials: {n_trials}
sampler: {kind: random, seed: {seed}}
pruner: {kind: successive_halving, reduction_factor: 2}
data: {data_dir: sample, max_train: {max_train}, max_test: 100}
"""


def tiny_sweep(folder: Path, n_trials: int = 6, seed: int = 0, name: str = "tiny.yaml", max_train: int = 200) -> Path:
    """A sweep file whose space holds invalid (stride 3), over-budget (96-channel stem) and good candidates.
    A kill test trains on more images (max_train), so that a trial's first epoch outlasts a poll of the study."""
    path = folder / name
    text = TINY_SWEEP.replace("{n_trials}", str(n_trials)).replace("{seed}", str(seed))
    path.write_text(text.replace("{max_train}", str(max_train)))
    return path


def trials_of(folder: Path, storage: str | None = None) -> list[Any]:
    """The study's trials as another process sees them (no lock taken)."""
    from archspec.search.folder import read_record
    from archspec.search.study import open_study, record_url

    record = read_record(folder)
    return open_study(
        record.sweep, storage or record_url(record, folder), create=False, fingerprint=record.fingerprint
    ).get_trials()


def wait_for(predicate: Callable[[], bool], what: str, process: subprocess.Popen[str], limit_s: float = 300) -> None:
    """Poll until `predicate` holds; fail (with the process's output) if the process ends first or time runs out."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the sweep ended before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {limit_s} s")
        time.sleep(0.2)


def fresh_trainings(folder: Path, storage: str | None = None) -> list[Any]:
    """From one snapshot: once a trial has finished training, the trials in their first epoch of training (what a
    kill should interrupt: a trial that only claimed its slot may still turn out a duplicate or surplus within
    milliseconds, one in a later epoch may finish before the kill lands); empty before that."""
    if not (folder / "sweep.json").is_file():
        return []
    trials = trials_of(folder, storage)
    if not any(t.user_attrs.get("outcome") in ("complete", "pruned") for t in trials):
        return []
    return [
        t for t in trials
        if t.state.name == "RUNNING" and t.user_attrs.get("outcome") == "training" and "run" in t.user_attrs
        and "epochs" not in t.user_attrs
    ]  # fmt: skip


def assert_run_folders(folder: Path, trained: list[Any], interrupted: set[int]) -> None:
    """Every trained trial has its run folder, and no other trial has one except an interrupted trial: a
    worker killed between its claim ("training") and the first write leaves none, one killed later leaves its
    partial run."""
    runs = {p.name for p in (folder / "trials").iterdir()}
    done = {f"{t.number:04d}" for t in trained}
    assert done <= runs <= done | {f"{n:04d}" for n in interrupted}, (runs, done, interrupted)


def running_trial(started: datetime, **attrs: str) -> Any:
    """A RUNNING FrozenTrial that started at `started` (naive local time, as Optuna's storages hand it out)."""
    from optuna.trial import FrozenTrial, TrialState

    return FrozenTrial(number=0, state=TrialState.RUNNING, value=None, datetime_start=started, datetime_complete=None,
                       params={}, distributions={}, user_attrs=attrs, system_attrs={}, intermediate_values={},
                       trial_id=0)  # fmt: skip
