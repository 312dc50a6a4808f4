"""Sweeps on a real PostgreSQL 15 server: a throwaway cluster on the loopback interface, started by the
fixture (as the `postgres` user when run as root, since the server refuses root), shared by two worker
processes, one of which is SIGKILLed mid-trial. Never skipped: without the binaries the fixture installs
them (`apt-get install -y postgresql`), and fails if it cannot."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import cli_env
from sweepfiles import assert_run_folders, fresh_trainings, tiny_sweep, trials_of, wait_for

from archspec.errors import ArchspecError
from archspec.search.space import ResolvedSweep, load_sweep
from archspec.search.study import open_study

pytestmark = pytest.mark.slow  # each trains real candidates, or starts a PostgreSQL server
PG_BIN = "/usr/lib/postgresql/15/bin"


def _initdb() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: (PG_BIN not in path, path))
    return Path(found[0]).parent if found else None


def _bin_folder() -> Path:
    """PostgreSQL's server binaries (15 preferred), installing the Debian package when they are missing."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([], ["apt-get", "install", "-y", "postgresql"], ["apt-get", "update"],
                    ["apt-get", "install", "-y", "postgresql"]):  # fmt: skip
        if command:
            subprocess.run(command, capture_output=True, env=env, timeout=900)
        found = _initdb()
        if found is not None:
            return found
    pytest.fail("PostgreSQL server binaries are missing and `apt-get install -y postgresql` did not provide them")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A fresh cluster in a temporary folder, listening on 127.0.0.1 only; its URL (database `sweeps`)."""
    import psycopg

    binaries = _bin_folder()
    root = Path(tempfile.mkdtemp(prefix="archspec-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(root, "postgres", pwd.getpwnam("postgres").pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def pg(*args: str) -> None:
        done = subprocess.run([*as_user, *args], cwd=root, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}\n{done.stderr}"

    pg(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    pg(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", options, "-w", "-t", "60",
       "start")  # fmt: skip
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as db:
            db.execute("CREATE DATABASE sweeps")
        yield f"postgresql://postgres@127.0.0.1:{port}/sweeps"
    finally:
        pg(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_a_postgresql_study_and_a_killed_workers_trial_is_retried(
    postgres: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    source = tiny_sweep(tmp_path, n_trials=4, seed=2, max_train=1500)
    command = [sys.executable, "-m", "archspec", "sweep", str(source), "--out", str(out), "--workers", "2",
               "--storage", postgres, "--quiet"]  # fmt: skip
    process = subprocess.Popen(command, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victims: list[Any] = []

    def fresh_trial_training() -> bool:
        victims[:] = fresh_trainings(out, postgres)[:1]
        return bool(victims)

    try:
        wait_for(fresh_trial_training, "a finished trial and one in its first epoch", process)
        token = str(victims[0].user_attrs["worker"])
        os.kill(int(token.split(":")[1]), signal.SIGKILL)  # that trial's worker, mid-training
        stdout, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert not (out / "study.db").exists()
    assert json.loads((out / "sweep.json").read_text())["storage"] == postgres
    trials = {t.number: t for t in trials_of(out, postgres)}
    crashed = [t for t in trials.values() if t.user_attrs.get("worker") == token and t.state.name == "FAIL"]
    assert [t.number for t in crashed] == [victims[0].number]  # the driver failed it when its worker died ...
    retry = next(t for t in trials.values() if t.user_attrs.get("retry_of") == crashed[0].number)
    assert retry.params == crashed[0].params  # ... and queued the same candidate again
    trained = [t for t in trials.values() if t.user_attrs.get("outcome") in ("complete", "pruned")]
    assert len(trained) == 4  # counted once each
    assert len({t.user_attrs["key"] for t in trained}) == 4
    assert any(t.user_attrs.get("outcome") == "rejected" for t in trials.values())
    assert any(t.state.name == "PRUNED" and t.user_attrs.get("outcome") == "pruned" for t in trials.values())
    assert_run_folders(out, trained, {crashed[0].number})
    assert "4 of 4 trained" in stdout


def test_another_machine_joins_the_same_sweep_and_a_different_one_is_refused(postgres: str, tmp_path: Path) -> None:
    base = tiny_sweep(tmp_path, n_trials=3).read_text().replace("name: tiny-sweep", "name: joined")

    def sweep(name: str, text: str) -> ResolvedSweep:
        path = tmp_path / name
        path.write_text(text)
        return load_sweep(path)

    first = open_study(sweep("a.yaml", base), postgres, create=True)
    first.set_user_attr("marker", "first")
    again = open_study(sweep("b.yaml", base.replace("n_trials: 3", "n_trials: 9")), postgres, create=True)
    assert again.user_attrs["marker"] == "first"  # the same study: only the budget differs
    with pytest.raises(ArchspecError, match="study 'joined' belongs to another sweep"):
        open_study(sweep("c.yaml", base.replace("[1, 2]", "[1, 3]")), postgres, create=True)


def test_two_sweeps_started_separately_share_one_study_and_one_folder_root(postgres: str, tmp_path: Path) -> None:
    """As on two machines: two `archspec sweep` commands, each with its own sweep folder under one shared root,
    on one PostgreSQL study. The trial numbers are the study's, so the trial folders never collide; every trial
    the study holds as trained has its run folder in exactly one of the two."""
    source = tiny_sweep(tmp_path, n_trials=4, seed=5)
    source.write_text(source.read_text().replace("name: tiny-sweep", "name: two-drivers"))  # the server is shared
    root = tmp_path / "shared"

    def sweep(folder: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "archspec", "sweep", str(source), "--out", str(root / folder),
                   "--storage", postgres, "--quiet"]  # fmt: skip
        return subprocess.Popen(command, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first, second = sweep("a"), sweep("b")
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    for process, (stdout, stderr) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, stdout + stderr
    trials = trials_of(root / "a", postgres)
    trained = [t for t in trials if t.user_attrs.get("outcome") in ("complete", "pruned")]
    assert len(trained) >= 4 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trained)
    assert not [t for t in trials if t.state.name == "RUNNING"]  # nothing left half-done
    folders = {name: {p.name for p in (root / name / "trials").iterdir()} for name in "ab"}
    assert folders["a"] and folders["b"] and not folders["a"] & folders["b"]  # both trained, none clobbered
    assert {f"{t.number:04d}" for t in trained} == folders["a"] | folders["b"]  # no result lost
    for t in trained:
        run = next(root / name / "trials" / f"{t.number:04d}" for name in "ab" if f"{t.number:04d}" in folders[name])
        assert (run / "metrics.jsonl").is_file() and (run / "checkpoints" / "last.pt").is_file()
