"""Ctrl-C stops training even where Python swallowed its KeyboardInterrupt (inside a finalizer), the flake that a
sweep's Ctrl-C test met under load; the handler is put back afterwards."""

from __future__ import annotations

import signal
import sys
from typing import Any

import pytest

from archspec.train.interrupt import ctrl_c_stops


class _Finalized:
    def __del__(self) -> None:  # SIGINT while a finalizer runs: Python reports its KeyboardInterrupt and drops it
        signal.raise_signal(signal.SIGINT)
        for _ in range(10_000):  # bytecode for the interpreter to run the Python-level handler in
            pass


def test_a_ctrl_c_swallowed_by_a_finalizer_still_stops_at_the_next_step(monkeypatch: pytest.MonkeyPatch) -> None:
    swallowed: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", swallowed.append)
    with ctrl_c_stops() as guard:
        _Finalized()  # collected at once
        assert [type(u.exc_value) for u in swallowed] == [KeyboardInterrupt]  # lost, as in SQLAlchemy's finalizer
        with pytest.raises(KeyboardInterrupt):
            guard.on_epoch_start(1, 100)
        guard.on_epoch_start(2, 100)  # raised once, not forever
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ordinary_ctrl_c_raises_where_it_lands() -> None:
    with ctrl_c_stops(), pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
        for _ in range(10_000):
            pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
