"""A sweep worker: the Optuna objective and the loop that runs it, in the driver's process or its own.

One trial: sample the space -> build the spec and recipe (invalid: recorded, nothing built) -> analytic
cost, then measured latency if asked (over a constraint: recorded as rejected, nothing trained) -> same
spec and recipe as an earlier trial (recorded as its duplicate) -> claim a training slot (trials.py) ->
train it as an ordinary run folder, reporting each epoch's test accuracy to the pruner.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from archspec.config.files import write_atomic
from archspec.errors import ArchspecError, DataError, ResourceError
from archspec.search import trials as T
from archspec.search.candidate import (
    Candidate,
    Cost,
    LatencyProbe,
    build_candidate,
    suggest,
    value_text,
    violations,
)
from archspec.search.folder import read_record, run_folder, worker_log
from archspec.search.space import ResolvedSweep
from archspec.search.storage import open_storage

if TYPE_CHECKING:
    import optuna

    from archspec.train.tracking import Tracking

SETTLE_S = 60.0  # how long a trial waits for lower-numbered ones to decide (each takes milliseconds)
EXIT_ERROR = 2  # a worker process stopped on an ArchspecError: its message is in workers/N.log
EXIT_INTERRUPTED = 130
EXIT_ORPHANED = 3  # the driver was gone before the parent-death signal was set
PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCHDOG_S = 1.0


class TrialFailed(Exception):
    """Training raised (out of memory, say): the trial is recorded as failed and the sweep goes on."""


class Surplus(Exception):
    """Every training slot was taken while this trial was being prepared."""


@dataclass(frozen=True)
class WorkerOptions:
    folder: Path
    storage_url: str
    index: int = 0
    device: str | None = None
    latency: LatencyProbe | None = None
    threads: int | None = None  # torch threads; None keeps torch's choice
    deadline: float | None = None  # time.time() after which no trial starts
    seed_offset: int = 0  # trials the study held when this run began: a resume draws new candidates
    on_trial: Callable[[T.Counts], None] | None = field(default=None, compare=False)
    driver: int | None = None  # the pid of the driver process: a worker process ends when it is gone
    loggers: tuple[str, ...] = ()  # each trial's, by name (archspec.train.loggers): --log of archspec sweep
    tracking: Tracking | None = None  # MLflow's store and the sweep's parent run, when loggers has mlflow


def run_worker(sweep: ResolvedSweep, options: WorkerOptions) -> None:
    """Run trials until n_trials are claimed, the time is up, or the space yields nothing new."""
    import optuna

    quiet_optuna()
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    storage = open_storage(options.storage_url, T.enqueue_retry)
    sampler = make_sampler(sweep, options.index + options.seed_offset)
    study = optuna.load_study(
        study_name=sweep.settings.name, storage=storage, sampler=sampler, pruner=make_pruner(sweep)
    )
    if finished(sweep, T.count(study.get_trials(deepcopy=False))):
        return
    timeout = None if options.deadline is None else options.deadline - time.time()
    if timeout is not None and timeout <= 0:
        return

    def after(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        counts = T.count(study.get_trials(deepcopy=False))
        if finished(sweep, counts):
            study.stop()
        if options.on_trial is not None:
            options.on_trial(counts)

    study.optimize(
        lambda trial: Objective(sweep, options, study, trial).run(),
        timeout=timeout,
        catch=(TrialFailed, Surplus),
        callbacks=[after],
    )


def finished(sweep: ResolvedSweep, counts: T.Counts) -> bool:
    n_trials = sweep.settings.n_trials
    return (counts.claims >= n_trials and counts.waiting == 0) or counts.skipped >= T.skip_limit(n_trials)


def process_main(options: WorkerOptions) -> None:
    """Entry of a worker process: exit 0 when done, 2 with the one-line error in workers/N.log."""
    if options.driver is not None:
        follow_driver(options.driver)
    log = worker_log(options.folder, options.index)
    try:
        run_worker(read_record(options.folder).sweep, options)
    except KeyboardInterrupt:  # Optuna has already marked the running trial failed; resume retries it
        sys.exit(EXIT_INTERRUPTED)
    except ArchspecError as err:
        write_atomic(log, f"{err}\n".encode())
        sys.exit(EXIT_ERROR)
    except BaseException:
        write_atomic(log, traceback.format_exc().encode())
        raise


def follow_driver(driver: int) -> None:
    """End this process when the driver process `driver` dies, however it dies (a SIGKILL included), so that a
    killed sweep leaves no worker training on: Linux's parent-death signal, and a watchdog thread for where
    that is missing or came too late (the driver died between starting this process and this call).

    The trial it was training stays RUNNING with this worker's token; `--resume` fails it and queues it again."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc to call: the watchdog alone
            pass
    if os.getppid() != driver:  # reparented already: the signal will never come
        os._exit(EXIT_ORPHANED)

    def watch() -> None:
        while os.getppid() == driver:
            time.sleep(WATCHDOG_S)
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="archspec-driver-watchdog", daemon=True).start()


def quiet_optuna() -> None:
    """Optuna logs every trial at INFO; the sweep has its own progress bar and records."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def make_sampler(sweep: ResolvedSweep, index: int) -> optuna.samplers.BaseSampler:
    import optuna

    settings = sweep.settings.sampler
    seed = settings.seed + index  # equal seeds would make the workers draw the same candidates
    if settings.kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    startup = max(4, min(10, sweep.settings.n_trials // 3))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True, constant_liar=True)


def make_pruner(sweep: ResolvedSweep) -> optuna.pruners.BasePruner:
    import optuna

    kind = sweep.settings.pruner_kind
    pruner = sweep.settings.pruner
    low = pruner.min_epochs if pruner else 1
    factor = pruner.reduction_factor if pruner else 3
    if kind == "hyperband":
        swept = any(axis.name == "recipe.epochs" for axis in sweep.axes)
        high: int | str = "auto" if swept else int(sweep.recipe_data.get("epochs", 1))
        return optuna.pruners.HyperbandPruner(min_resource=low, max_resource=high, reduction_factor=factor)
    if kind == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=low, reduction_factor=factor)
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=low - 1)
    return optuna.pruners.NopPruner()


class Objective:
    """One trial, start to end; its user attributes are the record that trials.py reads."""

    def __init__(self, sweep: ResolvedSweep, options: WorkerOptions, study: optuna.Study, trial: optuna.Trial):
        self.sweep, self.options, self.study, self.trial = sweep, options, study, trial
        self.number = trial.number

    def set(self, **attrs: Any) -> None:
        for key, value in attrs.items():
            self.trial.set_user_attr(key, value)

    def end(self, outcome: str, message: str, **attrs: Any) -> NoReturn:
        import optuna

        self.set(**attrs, outcome=outcome)
        raise optuna.TrialPruned(message)

    def run(self) -> float | tuple[float, float]:
        self.set(worker=T.worker_token())
        values = {axis.name: suggest(self.trial, axis) for axis in self.sweep.axes}
        self.set(sets=[f"{axis.name}={value_text(values[axis.name])}" for axis in self.sweep.axes])
        try:
            candidate = build_candidate(self.sweep, values, self.number)
        except ResourceError as err:
            self.end("rejected", str(err), reason=str(err))
        except ArchspecError as err:
            self.end("invalid", str(err), error=str(err))
        cost = candidate.cost
        self.set(spec_hash=candidate.spec_hash, key=candidate.key, params=cost.params, macs=cost.macs,
                 activation_bytes=cost.activation_bytes)  # fmt: skip
        problems = violations(self.sweep.settings.constraints, cost)
        if not problems and self.sweep.settings.constraints.max_latency_ms is not None:
            cost = self.measure(candidate)
            problems = violations(self.sweep.settings.constraints, cost)
        if problems:
            self.end("rejected", "; ".join(problems), reason="; ".join(problems))
        original = self.duplicate_of(candidate.key, self.study.get_trials(deepcopy=False))
        if original is not None:
            return self.copy(original)
        self.set(outcome="training")  # the claim; then wait until every earlier trial has decided
        earlier = self.settle()
        original = self.duplicate_of(candidate.key, earlier)
        if original is not None:
            return self.copy(original)
        if sum(T.is_claim(t) for t in earlier if t.number < self.number) >= self.sweep.settings.n_trials:
            self.set(outcome="surplus")
            self.study.stop()
            raise Surplus(f"trial {self.number}: all {self.sweep.settings.n_trials} training slots are taken")
        return self.train(candidate)

    def measure(self, candidate: Candidate) -> Cost:
        assert self.options.latency is not None, "the driver checks that max_latency_ms has a probe"
        latency = float(self.options.latency(candidate.spec))
        self.set(latency_ms=latency)
        cost = candidate.cost
        return Cost(cost.params, cost.macs, cost.activation_bytes, latency)

    def duplicate_of(self, key: str, trials: list[optuna.trial.FrozenTrial]) -> optuna.trial.FrozenTrial | None:
        """The earliest trial that trains (or trained) the same spec and recipe: a claim with a smaller
        number, or any finished one."""
        from optuna.trial import TrialState

        same = [
            t for t in trials
            if t.number != self.number and t.user_attrs.get("key") == key and T.is_claim(t)
            and t.state != TrialState.WAITING and (t.number < self.number or t.state.is_finished())
        ]  # fmt: skip
        return min(same, key=lambda t: t.number) if same else None

    def copy(self, original: optuna.trial.FrozenTrial) -> float | tuple[float, float]:
        from optuna.trial import TrialState

        attrs = {key: original.user_attrs[key] for key in ("accuracy", "epochs") if key in original.user_attrs}
        message = f"same spec and recipe as trial {original.number}"
        if original.state != TrialState.COMPLETE or not original.values:
            self.end("duplicate", message, duplicate_of=original.number, **attrs)
        self.set(outcome="duplicate", duplicate_of=original.number, **attrs)
        values = list(original.values)
        return values[0] if len(values) == 1 else (values[0], values[1])

    def settle(self) -> list[optuna.trial.FrozenTrial]:
        """All trials, once those numbered below this one have each decided what they are or died (or SETTLE_S)."""
        from optuna.trial import TrialState

        deadline = time.monotonic() + SETTLE_S
        while True:
            trials = self.study.get_trials(deepcopy=False)
            undecided = [
                t for t in trials
                if t.number < self.number and t.state == TrialState.RUNNING and "outcome" not in t.user_attrs
                and not T.is_dead(t)
            ]  # fmt: skip
            if not undecided or time.monotonic() > deadline:  # past it: a worker that died while sampling
                return trials
            time.sleep(0.1)

    def train(self, candidate: Candidate) -> float | tuple[float, float]:
        import optuna

        from archspec.train.callbacks import EpochHook, Guarded
        from archspec.train.loggers import LoggerOptions, make_loggers
        from archspec.train.runs import DataOptions, train_run
        from archspec.train.tracking import Tracking

        data = self.sweep.settings.data
        single = len(self.sweep.settings.objectives) == 1
        folder = run_folder(self.options.folder, self.number)
        self.set(run=str(folder.relative_to(self.options.folder)))
        last: dict[str, Any] = {}
        lines: list[str] = []
        began = time.perf_counter()

        def on_epoch(epoch: int, row: Mapping[str, float]) -> None:  # the pruner
            last.update(row)
            accuracy = float(row["test_acc"])
            self.set(epochs=epoch, accuracy=accuracy, seconds=time.perf_counter() - began)
            if single:
                self.trial.report(accuracy, epoch)
                if epoch < candidate.recipe.epochs and self.trial.should_prune():
                    self.end("pruned", f"stopped after epoch {epoch}")

        tracking = replace(self.options.tracking or Tracking(), run_name=f"trial {self.number:04d}")
        status = "FAILED"  # of the trial's MLflow run, if it stops before its end
        loggers = []
        try:
            # a child run of the sweep's (a store that stopped answering: this trial fails, one line in the study);
            # the loggers go before the pruner's hook, which raises: a pruned trial's last epoch is logged too
            loggers = make_loggers(self.options.loggers, lines.append, LoggerOptions(tracking))
            train_run(candidate.spec, candidate.recipe, folder, DataOptions(data.data_dir, data.max_train,
                      data.max_test), self.options.device, quiet=True, log=lines.append,
                      callbacks=[*loggers, EpochHook(on_epoch)])  # fmt: skip
        except optuna.TrialPruned:
            status = "KILLED"
            raise
        except DataError:  # no data: every trial would fail alike; stop the worker (the trial is retried)
            raise
        except (ArchspecError, RuntimeError, MemoryError) as err:
            message = " ".join(str(err).split())[:500]
            self.set(outcome="failed", error=message)
            raise TrialFailed(message) from err
        finally:
            for logger in loggers:
                if isinstance(logger, Guarded):
                    logger.finish(status)  # nothing when the run ended: on_end finished it
            if folder.is_dir():
                write_atomic(folder / "train.log", "".join(f"{line}\n" for line in lines).encode())
        accuracy = float(last["test_acc"])
        self.set(outcome="complete")
        objectives = self.sweep.settings.objectives
        if len(objectives) == 1:
            return accuracy
        second = candidate.cost.macs if objectives[1] == "macs" else candidate.cost.params
        return accuracy, float(second)
