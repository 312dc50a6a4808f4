"""MLflow tracking (archspec.train.tracking) against a real `mlflow server` on 127.0.0.1 (a free port, a SQLite
backend in a temporary folder), started once for the module, checked through MLflow's own client: a run holds
its params, the metrics.csv values per epoch and its artifacts; a resume to another store fills in the epochs
done, a resume to the same store appends to the same run, no step twice; a sweep is a parent run with a child
per trained trial; a server that dies mid-run costs one warning line and nothing of the run folder. Bad input:
an unknown logger, a missing extra, a server that does not answer, --tracking-uri without --log mlflow: one line,
exit 2, nothing trained. The server is killed by the last test, which is why it is last."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import TINY_SETS, assert_one_line_error, cli, cli_env
from sweepfiles import tiny_sweep

pytest.importorskip("mlflow", reason="archspec[mlflow] is not installed")

from mlflow import MlflowClient

from archspec.artifacts.rundir import RunDir
from archspec.cli.common import LOG_HELP
from archspec.runs.folders import find_runs
from archspec.train.loggers import LOGGERS
from archspec.train.tracking import STORE_FILE, read_record

pytestmark = pytest.mark.slow  # starts an MLflow server and trains
DATA = ["--data-dir", "sample", "--max-train", "200", "--max-test", "100", "--quiet", "--recipe", "d2l"]
READY_S = 240  # `mlflow server` takes ~40 s to answer on the busy 2-core machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """`mlflow server` on 127.0.0.1, its store and artifacts in a temporary folder; started at once, waited for
    by `url()` (the tests that need no server run meanwhile)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="archspec-mlflow-"))
        self.address = f"http://127.0.0.1:{_free_port()}"
        self.log = (self.root / "server.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", self.address.split(":")[-1],
             "--workers", "1", "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
             "--artifacts-destination", str(self.root / "artifacts")],
            stdout=self.log, stderr=subprocess.STDOUT, env=cli_env(), start_new_session=True,
        )  # fmt: skip
        self.ready = False

    def url(self) -> str:
        deadline = time.monotonic() + READY_S
        while not self.ready:
            try:
                with urllib.request.urlopen(f"{self.address}/health", timeout=2) as answer:
                    self.ready = answer.status == 200
            except OSError:
                pass
            if not self.ready and (self.process.poll() is not None or time.monotonic() > deadline):
                tail = (self.root / "server.log").read_text()[-2000:]
                pytest.fail(f"`mlflow server` did not answer on {self.address} within {READY_S} s (exit "
                            f"{self.process.poll()}); its log: {tail}")  # fmt: skip
            time.sleep(0 if self.ready else 0.5)
        return self.address

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the server and its uvicorn worker
            self.process.wait(30)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    started = Server()
    try:
        yield started
    finally:
        started.kill()
        started.log.close()


@pytest.fixture(autouse=True)
def own_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's MLflow variables never reach these runs."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)


def metrics_csv(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as file:
        return list(csv.DictReader(file))


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


def artifacts(client: MlflowClient, run_id: str, folder: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, folder):
        found |= artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def assert_same_as_csv(client: MlflowClient, run_id: str, run: Path) -> None:
    rows = metrics_csv(run)
    for key in ("test_acc", "train_loss", "train_acc", "lr"):
        logged = history(client, run_id, key)
        assert [step for step, _ in logged] == [int(row["epoch"]) for row in rows], key  # each epoch once
        assert [value for _, value in logged] == pytest.approx([float(row[key]) for row in rows], rel=1e-6), key
    steps = [step for step, _ in history(client, run_id, "step/train_loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 7 * len(rows)  # 200 images in batches of 32: 7 an epoch


def test_refusals(server: Server, tiny_spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """First in the module: the server starts meanwhile (it is not used here)."""
    out = tmp_path / "never"
    assert_one_line_error(cli("train", tiny_spec, *DATA, "--log", "mlflow,wandb", "--out", out),
                          "unknown logger 'wandb'", "tensorboard, mlflow")  # fmt: skip
    # nothing listens on the port just freed: one line, the run folder never made (no retries for minutes)
    dead = f"http://127.0.0.1:{_free_port()}"
    assert_one_line_error(cli("train", tiny_spec, *DATA, "--log", "mlflow", "--tracking-uri", dead, "--out", out),
                          f"MLflow tracking URI {dead}", "does not answer")  # fmt: skip
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # the probe's settings were its own
    assert_one_line_error(cli("sweep", tiny_sweep(tmp_path), "--out", tmp_path / "sweep", "--log", "mlflow",
                              "--tracking-uri", dead), "does not answer")  # fmt: skip
    assert not (tmp_path / "sweep").exists()
    assert_one_line_error(cli("train", tiny_spec, *DATA, "--tracking-uri", dead, "--out", out), "add --log mlflow")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name))
    assert_one_line_error(
        cli("train", tiny_spec, *DATA, "--log", "mlflow", "--out", out), "pip install 'archspec[mlflow]'"
    )
    assert not out.exists()
    assert all(f"{name} (" in LOG_HELP and f"archspec[{LOGGERS[name][0]}]" in LOG_HELP for name in LOGGERS)


def test_a_run_resumed_into_a_server_then_appended(server: Server, tiny_spec: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "tiny"
    first = cli("train", tiny_spec, *DATA, *TINY_SETS, "--set", "epochs=1", "--out", run, "--log", "mlflow")
    assert first.returncode == 0, first.stderr
    local = MlflowClient(f"sqlite:///{tmp_path / 'runs' / STORE_FILE}")  # the default: SQLite beside the runs
    (only,) = local.search_runs([local.get_experiment_by_name("archspec").experiment_id])
    assert only.info.status == "FINISHED" and only.data.params["recipe.epochs"] == "1"
    assert_same_as_csv(local, only.info.run_id, run)
    assert find_runs(tmp_path / "runs") == [(run, None)]  # its artifacts' copy of the folder is not a second run

    # resumed to the server: a new run there, epoch 1 filled in from metrics.jsonl, epoch 2 trained
    url = server.url()
    again = cli("train", "--resume", run, "--set", "epochs=2", "--quiet", "--log", "mlflow", "--tracking-uri", url)
    assert again.returncode == 0, again.stderr
    record = read_record(RunDir(run).mlflow_record)
    assert record["tracking_uri"] == url and record["run_id"] != only.info.run_id
    # and again to the same server: the same run, epoch 3 appended, no step twice
    third = cli("train", "--resume", run, "--set", "epochs=3", "--quiet", "--log", "mlflow", "--tracking-uri", url)
    assert third.returncode == 0, third.stderr
    assert read_record(RunDir(run).mlflow_record) == record
    client = MlflowClient(url)
    held = client.get_run(record["run_id"])
    assert held.info.status == "FINISHED" and held.info.run_name == "tiny"
    assert_same_as_csv(client, record["run_id"], run)
    params = held.data.params
    assert params["spec_hash"].startswith("sha256:") and params["spec.stages.1.channels"] == "16"
    assert params["recipe.batch_size"] == "32" and params["recipe.epochs"] == "2"  # as first logged to it
    assert held.data.tags["archspec.changed.recipe.epochs"] == "3"  # MLflow refuses to change a param
    assert {"spec.yaml", "recipe.yaml", "run.json", "metrics.csv", "curves.png", "confusion_matrix.png",
            "checkpoints/best.pt"} <= artifacts(client, record["run_id"])  # fmt: skip
    assert len(client.search_runs([held.info.experiment_id])) == 1


def test_a_sweep_is_a_parent_run_with_a_child_per_trained_trial(server: Server, tmp_path: Path) -> None:
    url = server.url()
    folder = tmp_path / "sweep"
    done = cli("sweep", tiny_sweep(tmp_path, n_trials=2), "--out", folder, "--quiet", "--log", "mlflow",
               "--tracking-uri", url)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    parent_id = read_record(folder / "mlflow.json")["run_id"]
    client = MlflowClient(url)
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.info.run_name == "tiny-sweep"
    assert parent.data.params["n_trials"] == "2" and parent.data.metrics["trained"] >= 1
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    trained = sorted(path.parent for path in folder.glob("trials/*/metrics.csv"))
    assert sorted(child.info.run_name for child in children) == [f"trial {path.name}" for path in trained]
    for child in children:
        run = folder / "trials" / child.info.run_name.split()[1]
        logged = [value for _, value in history(client, child.info.run_id, "test_acc")]
        assert logged == pytest.approx([float(row["test_acc"]) for row in metrics_csv(run)], rel=1e-6)
        assert child.info.status in ("FINISHED", "KILLED")  # KILLED: pruned after its first epoch
    best = max(float(metrics_csv(run)[-1]["test_acc"]) for run in trained)
    assert parent.data.metrics["best_test_acc"] == pytest.approx(best)
    # resumed (nothing left to train): the same parent run, not a second one
    again = cli("sweep", "--resume", folder, "--quiet", "--log", "mlflow", "--tracking-uri", url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert read_record(folder / "mlflow.json")["run_id"] == parent_id
    sweeps = client.search_runs([parent.info.experiment_id], "tags.`archspec.sweep_dir` != ''")
    assert [run.info.run_id for run in sweeps] == [parent_id] and client.get_run(parent_id).info.status == "FINISHED"


def test_a_server_that_dies_mid_run(server: Server, tmp_path: Path) -> None:
    """Last in the module: it kills the server."""
    from helpers import TINY_SPEC

    from archspec import load_spec
    from archspec.recipe import load_recipe
    from archspec.train.callbacks import EpochHook
    from archspec.train.runs import DataOptions, train_run
    from archspec.train.tracking import MlflowLogger, Tracking

    url = server.url()
    lines: list[str] = []

    def kill(epoch: int, row: object) -> None:
        if epoch == 1:
            server.kill()

    recipe = load_recipe("d2l", ["epochs=3", "resize=null", "batch_size=32"])
    logger = MlflowLogger(lines.append, Tracking(url))
    run = train_run(load_spec(TINY_SPEC), recipe, tmp_path / "run", DataOptions("sample", 200, 100), quiet=True,
                    log=lines.append, callbacks=[logger, EpochHook(kill)])  # fmt: skip
    assert [row["epoch"] for row in metrics_csv(run)] == ["1", "2", "3"] and RunDir(run).best.is_file()
    warnings = [line for line in lines if line.startswith("WARNING: mlflow")]
    assert len(warnings) == 1 and "could not log step" in warnings[0] and "of epoch 2" in warnings[0], lines
