"""Ctrl-C stops training even where Python swallowed its KeyboardInterrupt.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives; inside a garbage-collection
callback or a `__del__` it is printed as "Exception ignored" and lost, and training goes on (seen under load in
a sweep, inside SQLAlchemy's connection finalizers). While `ctrl_c_stops()` is in force, SIGINT also sets a flag
that the callback it yields reads a few times a second, at step boundaries, and raises again from there.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from archspec.train.callbacks import Callback, StepUpdate

CHECK_EVERY = 25  # optimizer steps between two looks at the flag (each look syncs with the device once)


class CtrlC(Callback):
    """Raises KeyboardInterrupt at the next step boundary after a SIGINT whose own KeyboardInterrupt was lost."""

    step_every = CHECK_EVERY

    def __init__(self) -> None:
        self.pending = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True
        raise KeyboardInterrupt  # as Python's own handler does; `pending` is for where it gets swallowed

    def check(self) -> None:
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def on_step(self, update: StepUpdate) -> None:
        self.check()

    def on_epoch_start(self, epoch: int, total: int) -> None:
        self.check()


@contextmanager
def ctrl_c_stops() -> Iterator[CtrlC]:
    """A CtrlC callback, its SIGINT handler installed for the block (where SIGINT is Python's default and this
    is the main thread; elsewhere the callback never fires)."""
    guard = CtrlC()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    if previous is not signal.default_int_handler:
        yield guard
        return
    signal.signal(signal.SIGINT, guard.handle)
    try:
        yield guard
    finally:
        signal.signal(signal.SIGINT, previous)
