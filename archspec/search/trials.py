"""What each trial of a sweep recorded, and the rules read from it: which trials count towards n_trials,
which crashed and must be retried, and which workers are gone.

Each trial carries user attributes; `outcome` says what became of it:

    invalid    the sampled spec or recipe does not validate (the error is in `error`); nothing built
    rejected   over a cost constraint (`reason`); nothing built
    duplicate  same spec and recipe as trial `duplicate_of`; not trained again
    training   claimed a training slot; still so after a crash (state FAIL), which is retried
    complete   trained all its epochs      pruned   stopped early by the pruner
    failed     training raised (`error`: out of memory ...); not retried
    surplus    lost the race for the last slot (several workers); never a candidate, left out of reports

A slot is claimed in trial-number order: a trial trains only if fewer than n_trials trials with a
smaller number hold claims, so n_trials is exact however many workers race for the last one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

SKIPPED = ("invalid", "rejected", "duplicate")
TRAINED = ("complete", "pruned")
MAX_ATTEMPTS = 3  # a trial that kills its worker every time (the kernel's OOM killer) is not retried forever
# A worker stamps its token on a trial milliseconds after Optuna creates it; a trial still without one this
# long after its start lost its worker in between (a SIGKILL). Generous: a study shared by several machines
# compares start times written by their clocks.
ORPHAN_S = 10.0


def _states() -> Any:
    from optuna.trial import TrialState

    return TrialState


def outcome(trial: FrozenTrial) -> str | None:
    value = trial.user_attrs.get("outcome")
    return str(value) if value is not None else None


def is_claim(trial: FrozenTrial) -> bool:
    """Holds (or held, and used) one of the n_trials training slots. A waiting retry holds one too."""
    state = _states()
    if trial.state == state.WAITING:
        return "retry_of" in trial.user_attrs
    if trial.state == state.RUNNING:
        return outcome(trial) == "training"
    if trial.state in (state.COMPLETE, state.PRUNED):
        return outcome(trial) in TRAINED
    return False


def is_crashed(trial: FrozenTrial) -> bool:
    """Claimed a slot, then its worker died or was interrupted before the trial ended."""
    return trial.state == _states().FAIL and outcome(trial) == "training"


@dataclass(frozen=True)
class Counts:
    trained: int = 0  # complete + pruned
    complete: int = 0
    pruned: int = 0
    running: int = 0  # training now
    waiting: int = 0  # queued retries
    rejected: int = 0
    invalid: int = 0
    duplicate: int = 0
    failed: int = 0
    crashed: int = 0
    best: float | None = None

    @property
    def claims(self) -> int:
        return self.trained + self.running + self.waiting

    @property
    def skipped(self) -> int:
        return self.rejected + self.invalid + self.duplicate


def count(trials: Sequence[FrozenTrial]) -> Counts:
    state = _states()
    tally: dict[str, int] = {}
    best: float | None = None
    for trial in trials:
        kind = outcome(trial)
        if trial.state == state.WAITING:
            kind = "waiting"
        elif trial.state == state.RUNNING:
            kind = "running" if kind == "training" else None
        elif is_crashed(trial):
            kind = "crashed"
        if kind is not None:
            tally[kind] = tally.get(kind, 0) + 1
        if kind == "complete" and trial.values:
            best = trial.values[0] if best is None else max(best, trial.values[0])
    complete, pruned = tally.get("complete", 0), tally.get("pruned", 0)
    return Counts(
        trained=complete + pruned,
        complete=complete,
        pruned=pruned,
        running=tally.get("running", 0),
        waiting=tally.get("waiting", 0),
        rejected=tally.get("rejected", 0),
        invalid=tally.get("invalid", 0),
        duplicate=tally.get("duplicate", 0),
        failed=tally.get("failed", 0),
        crashed=tally.get("crashed", 0),
        best=best,
    )


def skip_limit(n_trials: int) -> int:
    """Stop after this many rejected, invalid or duplicate candidates: the space (or its constraints) leaves
    too few new trainable candidates, and sampling on would never end."""
    return 20 * n_trials + 100


# --- retries ------------------------------------------------------------------------------------


def enqueue_retry(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue the same parameters again for a crashed trial (Optuna's failed-trial callback, and resume)."""
    attempt = int(trial.user_attrs.get("attempt", 1))
    if attempt >= MAX_ATTEMPTS:
        return
    study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number, "attempt": attempt + 1})


def retry_missing(study: optuna.Study) -> list[int]:
    """Queue a retry for each crashed trial that has none yet; the numbers of those retried."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    done = []
    for trial in trials:
        if is_crashed(trial) and trial.number not in retried and int(trial.user_attrs.get("attempt", 1)) < MAX_ATTEMPTS:
            enqueue_retry(study, trial)
            done.append(trial.number)
    return done


def is_dead(trial: FrozenTrial, alive: Any = None, now: datetime | None = None) -> bool:
    """A running trial whose worker is gone: a process of this machine that no longer runs, or none at all (an
    orphan: no worker token ORPHAN_S after its start). Ages are compared in UTC: Optuna's RDB storage keeps UTC
    and hands out naive local times (which astimezone reads as such), so machines in other time zones and a
    daylight-saving change agree."""
    token = trial.user_attrs.get("worker")
    if token is None:
        started = trial.datetime_start
        if started is None:
            return False
        age = (now or datetime.now(timezone.utc)) - started.astimezone(timezone.utc)
        return age.total_seconds() > ORPHAN_S
    return (alive or worker_alive)(str(token)) is False


def fail_dead(study: optuna.Study, alive: Any = None) -> list[int]:
    """Fail the running trials whose worker is gone (SIGKILL, a crash: `is_dead`); the numbers."""
    state = _states()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        if is_dead(trial, alive):
            try:
                study.tell(trial.number, state=state.FAIL)
            except (ValueError, RuntimeError):  # it finished meanwhile
                continue
            failed.append(trial.number)
    return failed


# --- workers ------------------------------------------------------------------------------------


def worker_token(pid: int | None = None) -> str:
    """host:pid:start-time of a process: names a worker uniquely even after its pid is reused."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def worker_alive(token: str) -> bool | None:
    """Whether the worker named by `token` still runs; None if it is on another machine (or unknown)."""
    host, _, rest = token.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    status, start = _stat(pid)
    return status not in ("Z", "X") and start == started  # a zombie has exited, whoever has not reaped it


def _start_time(pid: int) -> str:
    return _stat(pid)[1]


def _stat(pid: int) -> tuple[str, str]:
    """(state letter, start time) from /proc/PID/stat; ("?", "?") where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        return fields[0], fields[19]  # fields 3 and 22 of proc(5)
    except (OSError, IndexError):
        return "?", "?"
