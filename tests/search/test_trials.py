"""The rules read from a sweep's trial records (archspec/search/trials.py) that need no study: which
running trial's worker is gone."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

from sweepfiles import running_trial

from archspec.search import trials as T


def test_a_trial_without_a_worker_token_is_dead_orphan_s_after_its_start() -> None:
    """A worker killed between Optuna creating its trial and stamping its token leaves a running trial that names
    no worker: dead ORPHAN_S after its start, not at Optuna's heartbeat grace (which never fails a trial that has
    no heartbeat yet)."""
    now = datetime.now(timezone.utc)
    local = now.astimezone().replace(tzinfo=None)  # naive local time, as Optuna's storages hand it out
    assert not T.is_dead(running_trial(local - timedelta(seconds=1)), now=now)  # still being stamped
    assert T.is_dead(running_trial(local - timedelta(seconds=T.ORPHAN_S + 1)), now=now)
    assert not T.is_dead(running_trial(local + timedelta(seconds=2)), now=now)  # another machine's clock, ahead


def test_a_trial_is_dead_when_its_worker_process_is_gone() -> None:
    old = datetime.now() - timedelta(hours=1)
    assert not T.is_dead(running_trial(old, worker=T.worker_token()))  # this process runs
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    token = T.worker_token(gone.pid)
    gone.wait()
    assert T.is_dead(running_trial(old, worker=token))
    assert T.worker_alive(f"elsewhere:{gone.pid}:1") is None  # another machine's worker: its heartbeats decide
    assert not T.is_dead(running_trial(old, worker=f"elsewhere:{gone.pid}:1"))
