"""MLflow tracking: `archspec train --log mlflow`, one MLflow run per run folder; a sweep's parent run.

The store: `--tracking-uri URI`, else MLflow's own `MLFLOW_TRACKING_URI`, else a SQLite file beside the run
folders, `sqlite:///<the run folder's parent>/mlflow.db` (runs/mlflow.db for the default runs/<spec>-<time>;
a sweep's own is SWEEP/mlflow.db), with artifacts in `.mlartifacts/` beside it: MLflow's own default is a
SQLite file too, but in the current directory, where runs started from two places would not meet. The
experiment: `MLFLOW_EXPERIMENT_NAME`, else "archspec".

The store is reached before training (a tracking server that does not answer: one line within seconds,
training not started; MLflow's HTTP retries and timeout are set for that probe only). A run logs its params
(spec and recipe flattened, the spec hash), each epoch's metrics.csv row at step = epoch, the per-step
scalars under `step/` at the global optimizer step, and at the end its spec, recipe, run.json, metrics,
curves, last confusion matrix, best checkpoint and any ONNX export in the folder as artifacts.

The MLflow run's id is kept in RUN/mlflow.json (RunDir.mlflow_record): a resume with the same store appends to
that run, logging only the epochs (and steps) it does not hold yet, so none is there twice; a resume to
another store opens a new run there and fills in the epochs done from metrics.jsonl. A server that fails
mid-run: one warning line saying what was not logged, and training goes on (`Guarded`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from archspec.config.files import write_atomic
from archspec.errors import ArchspecError
from archspec.train.callbacks import Guarded, Log, Matrix, Row, Start, StepUpdate, hyperparameters
from archspec.train.plots import confusion_png, png_array

DEFAULT_EXPERIMENT = "archspec"
STORE_FILE = "mlflow.db"  # the default store, beside the run folders
# the default store's artifacts, beside it; hidden, since a run's artifacts (spec, recipe, checkpoints/) look
# like a run folder to `archspec runs list`, which skips dot folders
ARTIFACTS_DIR = ".mlartifacts"
PROBE = (0, 3)  # (HTTP retries, timeout in seconds) while checking that the store answers: seconds, not minutes
LOGGING = (1, 10)  # ... for each call while training: a dead server costs ~20 s once, then logging stops
BATCH = 100  # params per log_batch request (MLflow's limit)
PARENT_TAG = "mlflow.parentRunId"
T = TypeVar("T")


@dataclass(frozen=True)
class Tracking:
    """Where a run is tracked: the store (None: MLFLOW_TRACKING_URI, else SQLite beside the run folder), the
    experiment (None: MLFLOW_EXPERIMENT_NAME, else "archspec"), and for a sweep's trial its parent run."""

    uri: str | None = None
    experiment: str | None = None
    parent_run_id: str | None = None
    run_name: str | None = None  # default: the run folder's name


def store_uri(tracking: Tracking, root: Path) -> str:
    """The tracking URI: the one given, MLflow's environment variable, or the SQLite file in `root`."""
    return tracking.uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root.resolve() / STORE_FILE}"


def probe(tracking: Tracking) -> None:
    """Reach the store now when one is named (--tracking-uri, MLFLOW_TRACKING_URI): one line if it does not answer.
    The default SQLite file beside the run folders is opened when the run starts."""
    if tracking.uri or os.environ.get("MLFLOW_TRACKING_URI"):
        Store(store_uri(tracking, Path()), experiment_name(tracking))


def experiment_name(tracking: Tracking) -> str:
    return tracking.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT


@contextmanager
def http_policy(policy: tuple[int, float]) -> Iterator[None]:
    """MLflow's HTTP retries and timeout for the calls inside (it reads both variables at each request); and no
    "View run at" lines on stdout from MLflow itself (the logger says where the run is, through its log)."""
    names = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(zip(names, (*map(str, policy), "true"), strict=True))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _reason(err: BaseException) -> str:
    """An MLflow error in a few words: its first line, without the page of HTML a proxy may answer."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:200]}{'...' if len(text) > 200 else ''}"


class Store:
    """A client of one tracking store and the experiment's id there (created when missing)."""

    def __init__(self, uri: str, experiment: str) -> None:
        from mlflow import MlflowClient

        for chatter in ("mlflow.store.db.utils", "alembic"):  # "Creating initial MLflow database tables..."
            logging.getLogger(chatter).setLevel(logging.WARNING)
        self.uri = uri
        try:
            with http_policy(PROBE):
                self.client = MlflowClient(tracking_uri=uri)
                self.experiment_id = self._experiment(experiment)
        except ArchspecError:
            raise
        except Exception as err:  # MLflow's own, a connection refused, an unwritable SQLite file ...
            raise ArchspecError(f"MLflow tracking URI {uri}: the store does not answer ({_reason(err)}); start "
                                "the server, or give another --tracking-uri") from None  # fmt: skip

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is None:
            where = None  # a server's: its own --artifacts-destination
            if self.uri.startswith("sqlite:///"):  # beside the file, not in the current directory
                where = (Path(self.uri.removeprefix("sqlite:///")).resolve().parent / ARTIFACTS_DIR).as_uri()
            try:
                return str(self.client.create_experiment(name, artifact_location=where))
            except Exception:  # another process created it meanwhile (a sweep's workers)
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage != "active":
            raise ArchspecError(f"MLflow tracking URI {self.uri}: experiment {name!r} is deleted; restore it "
                                "(mlflow experiments restore) or set MLFLOW_EXPERIMENT_NAME")  # fmt: skip
        return str(found.experiment_id)

    def call(self, action: Callable[[], T]) -> T:
        with http_policy(LOGGING):
            return action()

    def create_run(self, name: str, tags: Mapping[str, str]) -> str:
        try:
            run = self.call(lambda: self.client.create_run(self.experiment_id, run_name=name, tags=dict(tags)))
        except Exception as err:
            raise ArchspecError(f"MLflow tracking URI {self.uri}: cannot create a run ({_reason(err)})") from None
        return str(run.info.run_id)

    def log_params(self, run_id: str, params: Mapping[str, Any], held: Mapping[str, str] | None = None) -> None:
        """Params (in batches of MLflow's limit); those the run holds already are left as they are (MLflow
        refuses a change), a changed one is noted in the tag `archspec.changed.<key>`."""
        from mlflow.entities import Param, RunTag

        held = held or {}
        values = {_key(key): _text(value) for key, value in params.items()}
        new = [Param(key, value) for key, value in values.items() if key not in held]
        changed = [RunTag(f"archspec.changed.{key}", value) for key, value in values.items()
                   if key in held and held[key] != value]  # fmt: skip
        for index in range(0, max(len(new), len(changed)), BATCH):
            batch, tags = new[index : index + BATCH], changed[index : index + BATCH]
            self.call(lambda: self.client.log_batch(run_id, params=batch, tags=tags))  # noqa: B023 (called at once)

    def log_metrics(self, run_id: str, values: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, step) for key, value in values.items()]
        self.call(lambda: self.client.log_batch(run_id, metrics=metrics))

    def steps(self, run_id: str, key: str) -> set[int]:
        return {metric.step for metric in self.call(lambda: self.client.get_metric_history(run_id, key))}

    def log_artifact(self, run_id: str, path: Path, folder: str | None = None) -> None:
        self.call(lambda: self.client.log_artifact(run_id, str(path), folder))

    def terminate(self, run_id: str, status: str = "FINISHED") -> None:
        self.call(lambda: self.client.set_terminated(run_id, status))

    def where(self, run_id: str) -> str:
        """Where to look at a run: its page on a server, or how to open the store."""
        if self.uri.startswith(("http://", "https://")):
            return f"{self.uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{run_id}"
        return f"run {run_id} in {self.uri} (mlflow ui --backend-store-uri {self.uri})"


def _key(key: str) -> str:
    """A flattened path as an MLflow param name, which takes no brackets: `stages[1].channels` -> `stages.1.channels`"""
    return key.replace("[", ".").replace("]", "")


def _text(value: Any) -> str:
    return str(value)[:6000]  # MLflow's limit on a param's value


def read_record(path: Path) -> dict[str, str]:
    """The store and run id a folder was logged to ({} when it was not, or the record is unreadable)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) and isinstance(record.get("run_id"), str) else {}


def write_record(path: Path, uri: str, experiment_id: str, run_id: str) -> None:
    record = {"tracking_uri": uri, "experiment_id": experiment_id, "run_id": run_id}
    write_atomic(path, (json.dumps(record, indent=2) + "\n").encode(), ArchspecError)


def open_run(store: Store, record: Path, name: str, tags: Mapping[str, str]) -> tuple[str, bool]:
    """The run `record` names in this store (True: it is resumed), else a new one, written to `record`."""
    held = read_record(record)
    if held.get("tracking_uri") == store.uri:
        run_id = held["run_id"]
        try:
            store.call(lambda: store.client.update_run(run_id, status="RUNNING"))
            return run_id, True
        except Exception as err:
            if "RESOURCE_DOES_NOT_EXIST" not in str(err) and "not found" not in str(err).lower():
                raise ArchspecError(f"MLflow tracking URI {store.uri}: cannot reopen run {run_id} "
                                    f"({_reason(err)})") from None  # fmt: skip
    run_id = store.create_run(name, tags)  # the record's run is gone (deleted, another store): a new one
    write_record(record, store.uri, store.experiment_id, run_id)
    return run_id, False


class MlflowLogger(Guarded):
    """One MLflow run per run folder (see the module's docstring)."""

    name = "mlflow"

    def __init__(self, log: Log = print, tracking: Tracking = Tracking(), step_every: int = 10) -> None:
        super().__init__(log)
        self.tracking = tracking
        self.step_every = step_every
        self.store: Store | None = None
        if tracking.uri or os.environ.get("MLFLOW_TRACKING_URI"):  # reached now, before any data is read
            self.store = Store(store_uri(tracking, Path()), experiment_name(tracking))
        self.start: Start | None = None
        self.run_id = ""
        self.steps = 0  # optimizer steps per epoch
        self.epochs: set[int] = set()  # epochs the MLflow run holds
        self.last_step = 0  # the last global step whose per-step scalars it holds
        self.matrix: tuple[int, Matrix] | None = None  # (epoch, its test confusion matrix), the last one
        self.open = False

    def on_start(self, start: Start) -> None:
        self.start = start
        if self.store is None:  # the default: SQLite beside the run folder (an error here stops before epoch 1)
            self.store = Store(store_uri(self.tracking, start.run.path.parent), experiment_name(self.tracking))
        store = self.store
        tags = {"archspec.run_dir": str(start.run.path.resolve()), "archspec.spec": start.spec.name}
        if self.tracking.parent_run_id:
            tags[PARENT_TAG] = self.tracking.parent_run_id
        self.run_id, resumed = open_run(store, start.run.mlflow_record, self.tracking.run_name or start.run.path.name,
                                        tags)  # fmt: skip
        self.open = True
        self.guard("the params and the run's start files", lambda: self._begin(start, resumed))

    def _begin(self, start: Start, resumed: bool) -> None:
        store, run_id = self._store(), self.run_id
        held = store.call(lambda: store.client.get_run(run_id)).data.params if resumed else {}
        store.log_params(run_id, hyperparameters(start), held)
        if resumed:
            self.epochs = store.steps(run_id, "test_acc")
            self.last_step = max(store.steps(run_id, "step/train_loss"), default=0)
        for row in start.run.read_metrics():  # the epochs done before this store saw the run
            if int(row["epoch"]) < start.first_epoch:
                self._epoch(int(row["epoch"]), row)
        for path in (start.run.spec_file, start.run.recipe_file, start.run.info_file):
            if path.is_file():
                store.log_artifact(run_id, path)

    def _store(self) -> Store:
        assert self.store is not None, "on_start opens the store"
        return self.store

    def _epoch(self, epoch: int, row: Row) -> None:
        if epoch not in self.epochs:  # a resume never logs an epoch twice
            self._store().log_metrics(self.run_id, {key: value for key, value in row.items() if key != "epoch"}, epoch)
            self.epochs.add(epoch)

    def on_epoch_start(self, epoch: int, total: int) -> None:
        assert self.start is not None
        self.steps = math.ceil(total / self.start.recipe.batch_size)  # as the loop counts them

    def on_step(self, update: StepUpdate) -> None:
        step = (update.epoch - 1) * self.steps + update.step
        if not self.open or step <= self.last_step:  # held from the killed attempt at this epoch
            return
        values = {"step/train_loss": update.loss, "step/train_acc": update.accuracy, "step/lr": update.lr}
        self.guard(f"step {update.step} of epoch {update.epoch}",
                   lambda: self._store().log_metrics(self.run_id, values, step))  # fmt: skip
        self.last_step = step

    def on_evaluate(self, epoch: int, matrix: Matrix) -> None:
        self.matrix = (epoch, matrix)

    def on_epoch_end(self, epoch: int, row: Row) -> None:
        if self.open:
            self.guard(f"epoch {epoch} and after", lambda: self._epoch(epoch, row))

    def on_end(self, history: Sequence[Row]) -> None:
        if self.open:
            self.guard("the artifacts (checkpoint, metrics, curves)", self._artifacts)
            self.finish()
            if not self.broken:
                self.log(f"mlflow: {self._store().where(self.run_id)}")

    def _artifacts(self) -> None:
        start, store = self.start, self._store()
        assert start is not None
        run = start.run
        for path in (run.metrics_csv, run.metrics_jsonl, run.curves, run.init_from_record):
            if path.is_file():
                store.log_artifact(self.run_id, path)
        if self.matrix is not None:
            epoch, matrix = self.matrix
            picture = confusion_png(matrix, start.classes or [str(i) for i in range(len(matrix))],
                                    f"{start.spec.name}: test confusion matrix, epoch {epoch}")  # fmt: skip
            store.call(lambda: store.client.log_image(self.run_id, png_array(picture), "confusion_matrix.png"))
        if run.best.is_file():
            store.log_artifact(self.run_id, run.best, "checkpoints")
        for export in sorted(run.path.glob("*.onnx")):  # `archspec export RUN --out RUN/...` before a resume
            store.log_artifact(self.run_id, export, "exports")

    def finish(self, status: str = "FINISHED") -> None:
        """End the MLflow run (a sweep ends a pruned trial's as KILLED); once."""
        if self.open:
            self.open = False
            self.guard(f"the run's end ({status})", lambda: self._store().terminate(self.run_id, status))


# --- a sweep's parent run ------------------------------------------------------------------------


def open_parent(
    tracking: Tracking, folder: Path, record: Path, params: Mapping[str, Any], files: Sequence[Path]
) -> Tracking:
    """A sweep's parent run, in the store (`folder`/mlflow.db by default): the one `record` names when resumed,
    else a new one with the sweep's params and files; the Tracking its trials log under, as its children."""
    store = Store(store_uri(tracking, folder), experiment_name(tracking))
    tags = {"archspec.sweep_dir": str(folder.resolve())}
    run_id, resumed = open_run(store, record, tracking.run_name or folder.name, tags)
    if not resumed:
        try:
            store.log_params(run_id, params)
            for path in files:
                store.log_artifact(run_id, path)
        except Exception as err:
            raise ArchspecError(f"MLflow tracking URI {store.uri}: cannot log the sweep ({_reason(err)})") from None
    return replace(tracking, uri=store.uri, experiment=experiment_name(tracking), parent_run_id=run_id)


def close_parent(tracking: Tracking, metrics: Mapping[str, float], log: Log = print) -> None:
    """The sweep's result on its parent run, which ends FINISHED; a failure is one warning line."""
    assert tracking.uri is not None and tracking.parent_run_id is not None, "open_parent's Tracking"
    logger = Guarded(log)
    logger.name = "mlflow"

    def close() -> None:
        store = Store(tracking.uri or "", experiment_name(tracking))
        run_id = tracking.parent_run_id or ""
        store.log_metrics(run_id, metrics, 0)
        store.terminate(run_id)

    logger.guard("the sweep's result", close)


__all__ = ["ARTIFACTS_DIR", "DEFAULT_EXPERIMENT", "STORE_FILE", "MlflowLogger", "Store", "Tracking", "close_parent",
           "open_parent", "probe", "read_record", "store_uri"]  # fmt: skip
