"""Sweeps end to end on the bundled sample with SQLite storage: exactly n_trials trained, rejected, invalid
and pruned candidates recorded, the report and best files, Ctrl-C, and resume after a SIGKILL of the workers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from helpers import cli, cli_env
from sweepfiles import assert_run_folders, fresh_trainings, running_trial, tiny_sweep, trials_of, wait_for

from archspec.cli import main
from archspec.errors import ArchspecError
from archspec.search import trials as T
from archspec.search.folder import read_record
from archspec.search.leaderboard import Leaderboard, load_leaderboard
from archspec.search.plots import EDF_SIZE, PARETO_SIZE
from archspec.search.space import load_sweep
from archspec.search.storage import default_url
from archspec.search.study import SweepOptions, SweepResult, open_study, resume_sweep, start_sweep
from archspec.spec.schema import ResNetSpec
from archspec.train.plots import png_size

pytestmark = pytest.mark.slow  # each trains real candidates, or starts a PostgreSQL server
N_TRIALS = 4


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[SweepResult, Leaderboard, Path]:
    """One tiny sweep, run in this process (one worker), shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("sweep")
    source = tiny_sweep(folder, n_trials=N_TRIALS)
    result = start_sweep(load_sweep(source), folder / "out", SweepOptions(progress=False))
    return result, load_leaderboard(result.folder), source


def test_a_sweep_trains_exactly_n_trials_and_records_what_it_skipped(
    finished: tuple[SweepResult, Leaderboard, Path],
) -> None:
    result, board, _ = finished
    counts = board.counts
    assert result.stopped == "done"
    assert counts.trained == N_TRIALS  # exactly: rejected, invalid and duplicate candidates do not count
    assert counts.rejected >= 1 and counts.invalid >= 1 and counts.pruned >= 1 and counts.complete >= 1
    entries = {entry.state: entry for entry in board.entries}
    assert "> max_macs 2,000,000" in entries["rejected"].note and entries["rejected"].macs is not None
    assert "stages[1].stride=3" in entries["invalid"].note
    trained = [e for e in board.entries if e.state in ("complete", "pruned")]
    runs = sorted(p.name for p in (result.folder / "trials").iterdir())
    assert runs == sorted(f"{e.trial:04d}" for e in trained)  # a run folder for each trained trial, and only them
    for entry in trained:
        epochs = 2 if entry.state == "complete" else 1  # successive halving stops the weak ones after epoch 1
        assert entry.epochs == epochs
        rows = (result.folder / "trials" / f"{entry.trial:04d}" / "metrics.jsonl").read_text().splitlines()
        assert len(rows) == epochs
        assert json.loads(rows[-1])["test_acc"] == pytest.approx(entry.accuracy)
    ranked = [e for e in board.entries if e.rank is not None]
    assert [e.rank for e in ranked] == list(range(1, counts.complete + 1))
    assert [e.accuracy for e in ranked] == sorted((e.accuracy for e in ranked), reverse=True)


def test_the_report_writes_its_files_and_the_best_files_train_as_they_are(
    finished: tuple[SweepResult, Leaderboard, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result, board, _ = finished
    assert main(["sweep", "report", str(result.folder), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["trained"] == N_TRIALS
    assert len(report["trials"]) == len(board.entries)
    assert png_size(result.folder / "pareto.png") == PARETO_SIZE
    assert png_size(result.folder / "edf.png") == EDF_SIZE
    assert (result.folder / "leaderboard.csv").read_text().startswith("rank,trial,state,accuracy")
    best = board.best
    assert best is not None and report["best_trial"] == best.trial
    run = tmp_path / "run"
    code = main(["train", str(result.folder / "best-spec.yaml"), "--recipe", str(result.folder / "best-recipe.yaml"),
                 "--data-dir", "sample", "--max-train", "100", "--max-test", "100", "--set", "epochs=1",
                 "--out", str(run), "--quiet"])  # fmt: skip
    assert code == 0
    assert best.spec_hash is not None and best.spec_hash in (run / "spec.yaml").read_text()


def test_report_of_two_sweeps_compares_their_error_edfs_on_one_figure(
    finished: tuple[SweepResult, Leaderboard, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result, board, source = finished
    other = start_sweep(load_sweep(source, ["name=other-space", "sampler.seed=1", "n_trials=2"]), tmp_path / "other",
                        SweepOptions(progress=False))  # fmt: skip
    second = load_leaderboard(other.folder)
    assert main(["sweep", "report", str(result.folder), str(other.folder)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    for each in (board, second):
        complete = sorted(e.accuracy or 0.0 for e in each.entries if e.state == "complete")
        name = each.sweep.settings.name
        assert rows[name][1] == str(len(complete))  # complete candidates, then the best error in per cent
        assert float(rows[name][2]) == pytest.approx(100 * (1 - complete[-1]), abs=0.006)
    figure = result.folder.parent / "edf-tiny-sweep-vs-other-space.png"
    assert f"wrote {figure}" in out and png_size(figure) == EDF_SIZE
    assert main(["sweep", "report", str(result.folder), str(other.folder), "--out", str(tmp_path / "e.txt")]) == 2
    assert main(["sweep", "report", str(result.folder), str(other.folder), "--family", "stem.channels"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "name a .png file" in err and "drop --family" in err
    assert not (tmp_path / "e.txt").exists()


def test_a_sweep_folder_is_refused_without_resume_and_a_finished_one_resumes_to_nothing(
    finished: tuple[SweepResult, Leaderboard, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    result, board, source = finished
    with pytest.raises(ArchspecError, match="holds a sweep already; continue it with --resume"):
        start_sweep(load_sweep(source), result.folder, SweepOptions(progress=False))
    assert main(["sweep", str(source), "--out", str(result.folder)]) == 2
    assert "--resume" in capsys.readouterr().err
    again = resume_sweep(result.folder, SweepOptions(progress=False))
    assert again.stopped == "done" and again.recovered == ()
    assert len(trials_of(result.folder)) == len(board.trials)  # nothing was sampled or trained again


def test_ctrl_c_leaves_the_study_consistent_and_resume_retries_the_interrupted_trial(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sweep = load_sweep(tiny_sweep(tmp_path, n_trials=2, seed=3))
    stop = threading.Event()

    def interrupt_once_training() -> None:  # Ctrl-C as the terminal sends it: SIGINT to the main thread
        while not stop.wait(0.02):
            if any((run / "spec.yaml").exists() for run in (out / "trials").glob("*")):
                signal.raise_signal(signal.SIGINT)
                return

    watcher = threading.Thread(target=interrupt_once_training)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            start_sweep(sweep, out, SweepOptions(progress=False))
    finally:
        stop.set()
        watcher.join()
    states = [(t.state.name, t.user_attrs.get("outcome")) for t in trials_of(out)]
    assert ("FAIL", "training") in states  # Optuna marked the interrupted trial failed
    assert not any(state == "RUNNING" for state, _ in states)
    result = resume_sweep(out, SweepOptions(progress=False))
    board = load_leaderboard(out)
    assert result.stopped == "done" and board.counts.trained == 2
    crashed = [e for e in board.entries if e.state == "crashed"]
    assert len(crashed) == 1 and list(result.recovered) == [crashed[0].trial]
    retry = next(e for e in board.entries if f"retry of trial {crashed[0].trial}" in e.note)
    assert retry.state in ("complete", "pruned") and retry.sets == crashed[0].sets


def test_two_workers_share_sqlite_and_resume_after_sigkill_loses_and_repeats_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = tiny_sweep(tmp_path, n_trials=4, seed=1, max_train=3000)  # a first epoch long enough to catch under load
    command = [sys.executable, "-m", "archspec", "sweep", str(source), "--out", str(out), "--workers", "2", "--quiet"]
    process = subprocess.Popen(command, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    try:
        wait_for(lambda: bool(fresh_trainings(out)), "a finished trial and one in its first epoch", process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the driver and both workers, as a crash would
        process.communicate()
    before = {t.number: t for t in trials_of(out)}
    finished_before = {n: (t.state, t.values, t.params) for n, t in before.items() if t.state.is_finished()}
    killed = {n for n, t in before.items() if t.state.name == "RUNNING" and t.user_attrs.get("outcome") == "training"}
    assert killed and finished_before
    done = cli("sweep", "--resume", out, "--quiet")  # one worker: the driver's own (here: this) process
    assert done.returncode == 0, done.stderr
    assert "queued again: trial" in done.stdout
    after = {t.number: t for t in trials_of(out)}
    for number, (state, values, params) in finished_before.items():  # nothing finished was lost or redone
        assert (after[number].state, after[number].values, after[number].params) == (state, values, params)
    board = load_leaderboard(out)
    assert board.counts.trained == 4  # counted once each, over both runs
    retried = {int(t.user_attrs["retry_of"]) for t in after.values() if "retry_of" in t.user_attrs}
    assert killed <= retried
    assert all(after[n].state.name == "FAIL" for n in killed)
    trained = [t for t in after.values() if t.user_attrs.get("outcome") in ("complete", "pruned")]
    keys = [t.user_attrs["key"] for t in trained]
    assert len(keys) == len(set(keys))  # no candidate trained twice
    assert_run_folders(out, trained, killed)


def test_a_sigkilled_driver_leaves_no_process_behind(tmp_path: Path) -> None:
    """Only the driver is killed (not its process group): its workers notice (the parent-death signal, or the
    watchdog) and end, mid-training, so the user gets the CPU back; --resume retries what they were training."""
    out = tmp_path / "out"
    source = tiny_sweep(tmp_path, n_trials=40, seed=2, max_train=1500)  # workers that go on would train for minutes
    command = [sys.executable, "-m", "archspec", "sweep", str(source), "--out", str(out), "--workers", "2", "--quiet"]
    # no pipes: a worker holding one open would keep communicate() waiting for as long as it lives
    process = subprocess.Popen(command, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                               start_new_session=True)  # fmt: skip

    def training() -> bool:
        return (out / "sweep.json").is_file() and any(t.user_attrs.get("outcome") == "training" for t in trials_of(out))

    try:
        wait_for(training, "a worker training", process)
        assert len(_group(process.pid)) >= 3  # the driver and its two workers
        process.kill()
        process.wait()
        deadline = time.monotonic() + 20  # the parent-death signal ends them at once, the watchdog within a second
        while _group(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group(process.pid), _group(process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _group(pgid: int) -> list[str]:
    """The command lines of the live (not zombie) processes of process group `pgid`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_resume_fails_a_trial_without_a_worker(tmp_path: Path) -> None:
    """A worker killed between Optuna creating its trial and stamping its token leaves a running trial that
    names no worker; resume fails it (trials.is_dead: tests/train/test_sweep_trials.py), it is no crashed
    training to retry, and the sweep ends."""
    out = tmp_path / "out"
    start_sweep(load_sweep(tiny_sweep(tmp_path, n_trials=1, seed=4)), out, SweepOptions(progress=False))
    study = open_study(read_record(out).sweep, default_url(out), create=False)
    old = datetime.now() - timedelta(seconds=T.ORPHAN_S + 50)  # naive local time, as Optuna hands it out
    orphan = study._storage.create_new_trial(study._study_id, running_trial(old))
    result = resume_sweep(out, SweepOptions(progress=False))
    assert result.stopped == "done" and result.recovered == ()  # failed, and not a crashed training to retry
    assert {t._trial_id: t.state.name for t in trials_of(out)}[orphan] == "FAIL"


def test_two_objectives_and_a_measured_latency_limit(tmp_path: Path) -> None:
    """accuracy against MACs (a two-objective study: no pruner), and max_latency_ms judged by the probe."""
    source = tiny_sweep(tmp_path, n_trials=2, seed=2)  # draws (4, 2), (96, 2), (4, 2): stem width, stride
    text = source.read_text().replace("pruner: {kind: successive_halving, reduction_factor: 2}",
                                      "objectives: [accuracy, macs]")  # fmt: skip
    source.write_text(text.replace("constraints: {max_macs: 2_000_000}", "constraints: {max_latency_ms: 1.0}"))
    probed: list[int] = []

    def latency(spec: ResNetSpec) -> float:  # fast when the stem is narrow, slow when it is wide
        probed.append(spec.stem.channels)
        return 0.5 if spec.stem.channels == 4 else 5.0

    start_sweep(load_sweep(source), tmp_path / "out", SweepOptions(latency=latency, progress=False))
    trials = trials_of(tmp_path / "out")
    trained = [t for t in trials if t.user_attrs.get("outcome") == "complete"]
    assert len(trained) == 2 and all(len(t.values) == 2 for t in trained)
    assert all(t.values[1] == t.user_attrs["macs"] for t in trained)  # the second objective is the MACs
    rejected = [t for t in trials if t.user_attrs.get("outcome") == "rejected"]
    assert 96 in probed and rejected
    assert all(t.user_attrs["reason"] == "latency_ms 5 > max_latency_ms 1" for t in rejected)
    assert all(t.user_attrs["latency_ms"] == 0.5 for t in trained)
