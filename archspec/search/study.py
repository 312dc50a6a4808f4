"""The sweep driver: creates or joins the study, holds the folder lock, runs the workers (in this process,
or as N processes sharing the study), shows one progress bar across trials, and resumes.

Resuming after a crash, a SIGKILL or Ctrl-C: finished trials are in the study and stay as they are; a
trial whose worker died while training is marked failed and queued again with the same parameters; a
trial that Ctrl-C stopped was marked failed by Optuna and is queued again the same way.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tqdm import tqdm

from archspec.errors import ArchspecError
from archspec.search import trials as T
from archspec.search.candidate import LatencyProbe
from archspec.search.folder import (
    MLFLOW_RECORD,
    RECORD,
    FolderLock,
    SweepRecord,
    is_sweep_folder,
    read_record,
    worker_log,
    write_record,
)
from archspec.search.space import ResolvedSweep
from archspec.search.storage import default_url, display_url, open_storage, without_password
from archspec.search.worker import EXIT_ERROR, WorkerOptions, finished, process_main, quiet_optuna, run_worker
from archspec.train.tracking import Tracking, close_parent, open_parent, probe

if TYPE_CHECKING:
    import optuna

IN_FOLDER = "in-folder"  # the storage a record names when it is the folder's own study.db
STOP_WAIT_S = 30.0


@dataclass(frozen=True)
class SweepOptions:
    workers: int = 1
    storage: str | None = None  # None: SQLite in the sweep folder
    device: str | None = None
    latency: LatencyProbe | None = None  # needed by max_latency_ms (archspec.deploy.inference.latency_ms)
    progress: bool = True
    # torch threads per worker. One: a sweep trains small candidates, which scale better over worker processes
    # than over threads, and threads that outnumber free cores stall each other (534 vs 39 examples/s for
    # one vs two threads on the busy 2-core machine, docs/benchmarks.md).
    threads: int = 1
    loggers: tuple[str, ...] = ()  # each trial's (archspec.train.loggers); mlflow: a parent run, a child per trial
    tracking: Tracking = field(default_factory=Tracking)  # MLflow's store (default: mlflow.db in the sweep folder)


@dataclass(frozen=True)
class SweepResult:
    folder: Path
    counts: T.Counts
    stopped: str  # done, time budget, skip limit, or incomplete
    recovered: tuple[int, ...] = field(default=())  # crashed trials queued again when this run started


def default_sweep_dir(sweep: ResolvedSweep) -> Path:
    return Path("sweeps") / f"{sweep.settings.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def start_sweep(
    sweep: ResolvedSweep,
    out: Path | None = None,
    options: SweepOptions = SweepOptions(),
    source_text: str = "",
    sets: list[str] | None = None,
) -> SweepResult:
    """A new sweep in `out` (refused if `out` holds anything); with --storage, joins that study if it is
    the same sweep (another machine's workers), refuses it if it is another."""
    _check_options(sweep, options)
    out = out or default_sweep_dir(sweep)
    if is_sweep_folder(out):
        raise ArchspecError(f"{out}: holds a sweep already; continue it with --resume {out} or pick another --out")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ArchspecError(f"{out}: exists and is not an empty folder; pick another --out")
    if options.storage is not None:  # an unreachable database, or another sweep's study, fails before any folder
        open_study(sweep, options.storage, create=True)
    if "mlflow" in options.loggers:
        probe(options.tracking)  # so does a tracking server that does not answer
    out.mkdir(parents=True, exist_ok=True)
    url = options.storage or default_url(out)
    with FolderLock(out):
        open_study(sweep, url, create=True)
        stored = IN_FOLDER if options.storage is None else without_password(options.storage)
        write_record(out, sweep, stored, source_text, sets or [])
        return _drive(out, sweep, url, options, (), sweep.fingerprint())


def resume_sweep(folder: Path, options: SweepOptions = SweepOptions()) -> SweepResult:
    """Continue the sweep of `folder` with its stored definition (or another --storage holding the same study)."""
    record = read_record(folder)
    _check_options(record.sweep, options)
    url = options.storage or record_url(record, folder)
    with FolderLock(folder):
        study = open_study(record.sweep, url, create=False, fingerprint=record.fingerprint)
        T.fail_dead(study)  # then a trial killed mid-training is a crashed one, retried below
        recovered = tuple(sorted(T.retry_missing(study)))
        return _drive(folder, record.sweep, url, options, recovered, record.fingerprint)


def _check_options(sweep: ResolvedSweep, options: SweepOptions) -> None:
    if sweep.settings.constraints.max_latency_ms is not None and options.latency is None:
        raise ArchspecError("max_latency_ms needs SweepOptions(latency=...): archspec.deploy.inference.latency_ms")


def open_study(sweep: ResolvedSweep, url: str, create: bool, fingerprint: str | None = None) -> optuna.Study:
    """The sweep's study in `url`: created (create=True) or joined if it holds the same sweep. A sweep folder's
    own record passes the `fingerprint` stored with it (what the study was created with, whatever version of
    archspec computes fingerprints now)."""
    import optuna

    quiet_optuna()
    storage = open_storage(url, T.enqueue_retry)
    name = sweep.settings.name
    fingerprint = fingerprint or sweep.fingerprint()
    directions: list[Literal["minimize", "maximize"]] = ["maximize"]
    directions += ["minimize"] * (len(sweep.settings.objectives) - 1)
    if create:
        try:
            study = optuna.create_study(study_name=name, storage=storage, directions=directions)
            study.set_user_attr("fingerprint", fingerprint)
            study.set_user_attr("sweep", sweep.to_json())
            return study
        except optuna.exceptions.DuplicatedStudyError:
            pass  # joined below, if it is this sweep
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise ArchspecError(f"{display_url(url)}: holds no study {name!r}") from None
    for _ in range(50):  # another machine may have created it a moment ago and not yet recorded what it is
        stored = study.user_attrs.get("fingerprint")
        if stored is not None:
            break
        time.sleep(0.1)
        study = optuna.load_study(study_name=name, storage=storage)
    if stored != fingerprint:
        raise ArchspecError(
            f"{display_url(url)}: study {name!r} belongs to another sweep ({stored}, this one is {fingerprint}); "
            "rename this sweep (name:) or use another --storage"
        )
    return study


def record_url(record: SweepRecord, folder: Path) -> str:
    return default_url(folder) if record.storage == IN_FOLDER else record.storage


def _drive(
    folder: Path, sweep: ResolvedSweep, url: str, options: SweepOptions, recovered: tuple[int, ...], fingerprint: str
) -> SweepResult:
    minutes = sweep.settings.time_budget_minutes
    deadline = None if minutes is None else time.time() + 60 * minutes
    study = open_study(sweep, url, create=False, fingerprint=fingerprint)
    held = study.get_trials(deepcopy=False)
    progress = Progress(sweep, options.progress, T.count(held))
    import torch

    tracking = _parent_run(folder, sweep, options) if "mlflow" in options.loggers else None
    threads = torch.get_num_threads()
    try:
        worker = WorkerOptions(folder, url, 0, options.device, options.latency, options.threads, deadline,
                               len(held), progress.update, loggers=options.loggers, tracking=tracking)  # fmt: skip
        if options.workers == 1:
            run_worker(sweep, worker)
        else:
            _run_processes(study, sweep, worker, options.workers, progress)
    finally:
        T.fail_dead(study)  # a worker killed meanwhile (the resume retries its trial), an orphan
        progress.close()
        torch.set_num_threads(threads)  # the in-process worker set its own
    trials = study.get_trials(deepcopy=False)
    counts = T.count(trials)
    if tracking is not None:
        scores = [float(t.user_attrs["accuracy"]) for t in trials if t.user_attrs.get("outcome") == "complete"]
        result = {"trained": float(counts.trained), **({"best_test_acc": max(scores)} if scores else {})}
        close_parent(tracking, result)
    if finished(sweep, counts):
        stopped = "skip limit" if counts.skipped >= T.skip_limit(sweep.settings.n_trials) else "done"
    else:
        stopped = "time budget" if deadline is not None and time.time() >= deadline else "incomplete"
    return SweepResult(folder, counts, stopped, recovered)


def _parent_run(folder: Path, sweep: ResolvedSweep, options: SweepOptions) -> Tracking:
    """The sweep's MLflow run (resumed: the same one), under which each trial's run is a child."""
    settings = sweep.settings
    params = {"sweep": settings.name, "n_trials": settings.n_trials, "objectives": ",".join(settings.objectives),
              "axes": ",".join(axis.name for axis in sweep.axes)}  # fmt: skip
    named = options.tracking if options.tracking.run_name else replace(options.tracking, run_name=sweep.settings.name)
    return open_parent(named, folder, folder / MLFLOW_RECORD, params, [folder / "sweep.yaml", folder / RECORD])


def _run_processes(
    study: optuna.Study, sweep: ResolvedSweep, base: WorkerOptions, workers: int, progress: Progress
) -> None:
    """N worker processes; a worker that dies (SIGKILL, a crash) has its trial failed and queued again, and
    a new worker takes its place (at most N times, so a worker that always crashes cannot loop)."""
    context = multiprocessing.get_context("spawn")  # no fork: torch and the SQLite connections do not survive it
    running: dict[int, Any] = {}

    def spawn(index: int) -> None:
        options = WorkerOptions(base.folder, base.storage_url, index, base.device, base.latency, base.threads,
                                base.deadline, base.seed_offset, driver=os.getpid(), loggers=base.loggers,
                                tracking=base.tracking)  # fmt: skip
        process = context.Process(target=process_main, args=(options,), name=f"archspec-sweep-worker-{index}")
        process.start()
        running[index] = process

    for index in range(workers):
        spawn(index)
    replaced = 0
    try:
        while running:
            multiprocessing.connection.wait([p.sentinel for p in running.values()], timeout=1.0)
            progress.update(T.count(study.get_trials(deepcopy=False)))
            for index, process in list(running.items()):
                if process.exitcode is None:
                    continue
                process.join()
                del running[index]
                if process.exitcode == 0:
                    continue
                if process.exitcode == EXIT_ERROR:  # a user error (no data, say): every worker would hit it
                    _stop(running)
                    raise ArchspecError(_last_line(worker_log(base.folder, index)))
                T.fail_dead(study)
                T.retry_missing(study)
                if process.exitcode > 0:  # a bug: its traceback is in the log
                    _stop(running)
                    log = worker_log(base.folder, index)
                    raise ArchspecError(f"sweep worker {index} stopped: {_last_line(log)} (traceback: {log})")
                if replaced < workers and not finished(sweep, T.count(study.get_trials(deepcopy=False))):
                    replaced += 1
                    spawn(workers + replaced - 1)  # a fresh sampler seed, not the dead worker's
    except KeyboardInterrupt:
        _stop(running)  # each worker marks its running trial failed (Optuna does), to be retried on resume
        raise


def _stop(running: dict[int, Any]) -> None:
    """Interrupt the workers (Ctrl-C reaches them too) and wait; kill any that hang."""
    for process in running.values():
        if process.exitcode is None and process.pid is not None:
            os.kill(process.pid, signal.SIGINT)
    deadline = time.monotonic() + STOP_WAIT_S
    for process in running.values():
        process.join(max(0.0, deadline - time.monotonic()))
        if process.exitcode is None:
            process.kill()
            process.join()
    running.clear()


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return f"no message (no {path})"
    return lines[-1] if lines else "no message"


class Progress:
    """One bar across the sweep: trained of n_trials, with the best accuracy and what was skipped. Where
    stderr is no terminal (a log file, a pipe) the bar is off and a line goes to stderr each time a trial
    finishes training instead."""

    def __init__(self, sweep: ResolvedSweep, enabled: bool, counts: T.Counts) -> None:
        self.total, self.name = sweep.settings.n_trials, sweep.settings.name
        self.last: T.Counts | None = None
        # disable=None: on a terminal only (a log file would get a line per refresh)
        self.bar = tqdm(total=self.total, desc=sweep.settings.name, unit="trial", disable=None if enabled else True,
                        dynamic_ncols=True)  # fmt: skip
        self.lines = enabled and self.bar.disable
        self.update(counts)

    def update(self, counts: T.Counts) -> None:
        if counts == self.last:
            return
        trained_before = self.last.trained if self.last is not None else counts.trained
        self.last = counts
        self.bar.n = min(counts.trained, self.total)
        best = f"{counts.best:.4f}" if counts.best is not None else "-"
        state = (f"best {best}, running {counts.running}, pruned {counts.pruned}, rejected {counts.rejected}, "
                 f"invalid {counts.invalid}, duplicate {counts.duplicate}")  # fmt: skip
        self.bar.set_postfix_str(state)
        if self.lines and counts.trained > trained_before:
            print(f"{self.name}: {counts.trained} of {self.total} trained; {state}", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()
