"""torchrun's entry point in test_multinode.py: `archspec train ARGS` as `-m archspec` runs it, except that rank
$ELASTIC_KILLED_RANK is killed with SIGKILL where $ELASTIC_KILLS says ("EPOCH:STEP,...", 0-based), once each:
a real kill mid-epoch, as a machine fails. Each kill leaves a marker file in $ELASTIC_MARKS first, so that an
attempt torchrun restarts for another reason (gloo's connection set-up has failed once under load) does not
shift the kills. The hook lives here, in the test, not in archspec."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import archspec.train.fit as fit
from archspec.cli import main

KILLED_RANK = int(os.environ.get("ELASTIC_KILLED_RANK", "1"))
KILLS = [tuple(map(int, item.split(":"))) for item in os.environ.get("ELASTIC_KILLS", "").split(",") if item]
MARKS = Path(os.environ.get("ELASTIC_MARKS", "."))
train_epoch = fit.train_epoch


class Dying:
    """A split whose batches end in SIGKILL at `step`."""

    def __init__(self, split: Any, step: int, mark: Path) -> None:
        self.split, self.step, self.mark = split, step, mark

    def __len__(self) -> int:
        return len(self.split)

    def batches(self, order: Any, batch_size: int) -> Iterator[Any]:
        for step, batch in enumerate(self.split.batches(order, batch_size)):
            if step == self.step:
                self.mark.touch()
                os.kill(os.getpid(), signal.SIGKILL)
            yield batch


def dying_epoch(session: Any, split: Any, epoch: int, callback: Any = None) -> Any:
    pending = [(at, step) for at, step in KILLS if at == epoch and not (MARKS / f"killed-{at}-{step}").exists()]
    if pending and int(os.environ["RANK"]) == KILLED_RANK:
        at, step = pending[0]
        split = Dying(split, step, MARKS / f"killed-{at}-{step}")
    return train_epoch(session, split, epoch, callback)


fit.train_epoch = dying_epoch
sys.exit(main(sys.argv[1:]))
