"""Where a sweep's Optuna study lives: an SQLite file in the sweep folder (the default: embedded, nothing
to start) or a PostgreSQL database (psycopg) that workers on any number of machines share.

SQLite takes one writer at a time. Workers wait for the lock (a 60 s busy timeout) and start every
transaction with BEGIN IMMEDIATE, so a read never has to upgrade to a write halfway, which in WAL mode
fails at once instead of waiting (SQLITE_BUSY_SNAPSHOT). Every storage records heartbeats of running
trials: a trial whose worker stopped beating for `GRACE_S` (a machine that died) is failed and retried
by the next worker that starts a trial.
"""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec.errors import ArchspecError

if TYPE_CHECKING:
    import optuna

STUDY_FILE = "study.db"
SQLITE_TIMEOUT_S = 60
HEARTBEAT_S = 10
GRACE_S = 120
CONNECT_TIMEOUT_S = 10
SCHEMES = ("sqlite:///PATH", "postgresql://USER@HOST:PORT/DATABASE")

FailedTrialCallback = Callable[["optuna.Study", "optuna.trial.FrozenTrial"], None]


def default_url(folder: Path) -> str:
    return f"sqlite:///{(folder / STUDY_FILE).resolve()}"


def driver_url(url: str) -> str:
    """The SQLAlchemy URL: postgresql:// goes through psycopg 3; ArchspecError for any other scheme."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if sep and scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        return url
    raise ArchspecError(f"--storage {display_url(url)}: expected {' or '.join(SCHEMES)}")


def display_url(url: str) -> str:
    """The URL with any password replaced by ***, for messages and the sweep record."""
    return _with_password(url, ":***")


def without_password(url: str) -> str:
    """The URL to keep in the sweep record: libpq finds the password again in PGPASSWORD or ~/.pgpass."""
    return _with_password(url, "")


def _with_password(url: str, password: str) -> str:
    """`url` with its `:password` part (if any) replaced by `password` (":***", or "" to drop it). Only the
    authority (up to the first `/`) holds user and password: an `@` in the path or query is not one."""
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    user, at, host = authority.rpartition("@")
    if not (sep and at and ":" in user):
        return url
    return f"{scheme}://{user.split(':', 1)[0]}{password}@{host}{slash}{tail}"


def sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def open_storage(url: str, failed_trial_callback: FailedTrialCallback | None = None) -> optuna.storages.RDBStorage:
    """Connect (creating the tables if need be); one-line ArchspecError if the storage cannot be reached."""
    import optuna
    import sqlalchemy

    target = driver_url(url)
    path = sqlite_path(target)
    kwargs: dict[str, Any]
    if path is not None:
        if not path.parent.is_dir():
            raise ArchspecError(f"{display_url(url)}: no folder {path.parent} for the study file")
        _wal(path)
        kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    else:
        kwargs = {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna; they are what resume relies on
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                target,
                engine_kwargs=kwargs,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=failed_trial_callback,
            )
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, OSError) as err:
        raise ArchspecError(f"{display_url(url)}: cannot open the study storage: {_reason(err)}") from None
    if path is not None:
        _begin_immediate(storage.engine)
    return storage


def _wal(path: Path) -> None:
    """Write-ahead logging: readers do not block the writer (the setting stays with the file)."""
    try:
        with sqlite3.connect(path, timeout=SQLITE_TIMEOUT_S) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
        connection.close()
    except sqlite3.Error as err:
        raise ArchspecError(f"{path}: cannot open the study file: {err}") from None


def _begin_immediate(engine: Any) -> None:
    from sqlalchemy import event

    def connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the begin event below issue BEGIN itself
        # WAL + NORMAL: a commit is not synced to disk at once; a killed process loses nothing, and the file
        # stays consistent even on power loss (it may lose the last commits then). Each trial commits often.
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    def begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "connect", connect)
    event.listen(engine, "begin", begin)
    engine.dispose()  # connections made before the listeners would begin the default (deferred) way


def _reason(err: BaseException) -> str:
    cause = getattr(err, "orig", None) or err
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__
