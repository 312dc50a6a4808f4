"""Shared fixtures, one torch thread per test process, and a decode cache of each test's own."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from helpers import TINY_SPEC


def pytest_configure(config: pytest.Config) -> None:
    """One intra-op thread, as the CLI subprocesses get (helpers.cli_env): `make test` runs two pytest workers
    on two cores, and tiny models gain nothing from a second thread; results match across processes."""
    import torch

    torch.set_num_threads(1)
    # A suite started in the background by a shell without job control inherits SIGINT ignored, and
    # archspec then rightly leaves it ignored (train/interrupt.py); the Ctrl-C tests need Python's default.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def tiny_spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC)
    return path


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test decodes into its own cache folder, never the user's ~/.cache/archspec."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ARCHSPEC_CACHE", str(cache))
    return cache
