"""A sweep's leaderboard as data: one entry per trial and the Pareto front. Its own module so that the
figures (search/plots.py) and the files (search/leaderboard.py, which draws the figures) share it without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from archspec.search import trials as T
from archspec.search.space import ResolvedSweep

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


@dataclass(frozen=True)
class Entry:
    trial: int
    state: str  # one of leaderboard.STATES
    rank: int | None = None  # complete trials only, by accuracy
    accuracy: float | None = None  # test accuracy after the last epoch trained
    epochs: int | None = None
    params: int | None = None
    macs: int | None = None  # per image
    activation_bytes: int | None = None
    latency_ms: float | None = None
    spec_hash: str | None = None
    family: str = "all"
    pareto: bool = False  # on the front of accuracy (higher) against MACs (lower)
    note: str = ""  # why rejected, the spec error, duplicate of which trial, ...
    run: str | None = None  # the trial's run folder, relative to the sweep folder
    sets: tuple[str, ...] = field(default=())  # PATH=VALUE texts that make the candidate from the base


@dataclass(frozen=True)
class Leaderboard:
    sweep: ResolvedSweep
    counts: T.Counts
    entries: tuple[Entry, ...]
    trials: dict[int, FrozenTrial]
    family_key: str | None  # the space entry whose value is each entry's family

    @property
    def best(self) -> Entry | None:
        return next((entry for entry in self.entries if entry.rank == 1), None)


def pareto_front(points: list[tuple[int, float, int]]) -> set[int]:
    """Ids of the (id, accuracy, cost) points that no other point beats on both (higher accuracy, lower cost)."""
    front = set()
    for ident, accuracy, cost in points:
        beaten = any(a >= accuracy and c <= cost and (a > accuracy or c < cost) for _, a, c in points)
        if not beaten:
            front.add(ident)
    return front
