"""A sweep's figures (matplotlib, Agg): the Pareto front of accuracy against cost, and the error EDF per
sub-family, as pycls's "Designing Network Design Spaces" compares design spaces.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from archspec.arch.complexity import complexity
from archspec.config.diagnostics import validate
from archspec.config.document import Document
from archspec.config.files import write_atomic
from archspec.errors import ArchspecError
from archspec.search.board import Entry, Leaderboard, pareto_front
from archspec.spec.schema import ResNetSpec

PARETO_SIZE = (1100, 440)  # pixels
EDF_SIZE = (640, 440)
_DPI = 100


def _figure(size: tuple[int, int], columns: int = 1) -> tuple[Any, list[Any]]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] / _DPI, size[1] / _DPI), dpi=_DPI)
    return fig, [fig.add_subplot(1, columns, i + 1) for i in range(columns)]


def _save(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    write_atomic(path, buffer.getvalue(), ArchspecError)


def plot_pareto(board: Leaderboard, path: Path) -> bool:
    """Test accuracy against MACs per image and against parameters, front marked; False if nothing trained."""
    trained = [e for e in board.entries if e.state in ("complete", "pruned") and e.accuracy is not None]
    if not trained:
        return False
    sweep = board.sweep.settings
    base = complexity(validate(Document("base", board.sweep.spec_data), ResNetSpec, "spec"))
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = _figure(PARETO_SIZE, 2)
    families = sorted({e.family for e in trained})
    key = board.family_key
    colors = {family: f"C{i % 10}" for i, family in enumerate(families)}
    panels = (("macs", "MACs per image", base.macs, sweep.constraints.max_macs),
              ("params", "parameters", base.params, sweep.constraints.max_params))  # fmt: skip
    for ax, (field, label, base_cost, limit) in zip(axes, panels, strict=True):
        complete = [e for e in trained if e.state == "complete"]
        for family in families:
            points = [e for e in complete if e.family == family]
            if points:
                name = f"{key}={family} ({len(points)})" if key else f"complete ({len(points)})"
                ax.scatter([getattr(e, field) for e in points], [e.accuracy for e in points], s=22,
                           color=colors[family], label=name, zorder=3)  # fmt: skip
        pruned = [e for e in trained if e.state == "pruned"]
        if pruned:
            ax.scatter([getattr(e, field) for e in pruned], [e.accuracy for e in pruned], s=18, marker="x",
                       color="0.6", label=f"pruned, when stopped ({len(pruned)})", zorder=2)  # fmt: skip
        front = _front(complete, field)
        if front:
            ax.step([getattr(e, field) for e in front], [e.accuracy for e in front], where="post", color="crimson",
                    linewidth=1.2, marker="o", markersize=9, markerfacecolor="none", label="Pareto front",
                    zorder=4)  # fmt: skip
        rejected = [getattr(e, field) for e in board.entries if e.state == "rejected" and getattr(e, field)]
        if rejected:  # no accuracy: a tick on the x axis where each one would have been
            ax.scatter(rejected, [0.03] * len(rejected), transform=ax.get_xaxis_transform(), marker="|", s=120,
                       color="crimson", alpha=0.6, label=f"rejected ({len(rejected)})")  # fmt: skip
        ax.axvline(base_cost, color="0.3", linestyle="--", linewidth=1, label=f"base {base.name}")
        if limit is not None:
            ax.axvline(limit, color="crimson", linestyle=":", linewidth=1, label=f"max_{field}")
        shown = [getattr(e, field) for e in trained] + rejected + [base_cost] + ([limit] if limit else [])
        ax.set_xscale("log")
        ax.set_xlim(min(shown) / 1.25, max(shown) * 1.25)
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _short(value)))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best", fontsize=7)  # where it hides the fewest points
    counts = board.counts
    fig.suptitle(f"sweep {sweep.name}: {counts.complete} complete, {counts.pruned} pruned, {counts.rejected} "
                 f"rejected, {counts.invalid} invalid, {counts.duplicate} duplicate", fontsize=9)  # fmt: skip
    fig.tight_layout()
    _save(fig, path)
    return True


def _short(value: float) -> str:
    """1500000 -> 1.5M: tick labels that do not collide."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


def _front(entries: list[Entry], field: str) -> list[Entry]:
    points = [(e.trial, e.accuracy or 0.0, int(getattr(e, field) or 0)) for e in entries]
    ids = pareto_front(points)
    return sorted((e for e in entries if e.trial in ids), key=lambda e: getattr(e, field))


def _complete(board: Leaderboard) -> list[Entry]:
    return [e for e in board.entries if e.state == "complete" and e.accuracy is not None]


def _edf(ax: Any, entries: list[Entry], label: str) -> None:
    """One error EDF: the share of `entries` with test error (%) below x, as a step curve."""
    errors = sorted(100.0 * (1.0 - (e.accuracy or 0.0)) for e in entries)
    shares = [(i + 1) / len(errors) for i in range(len(errors))]
    ax.step([errors[0], *errors], [0.0, *shares], where="post", label=f"{label} (n={len(errors)})")


def _finish_edf(fig: Any, ax: Any, title: str, path: Path) -> None:
    ax.set_xlabel("test error (%)")
    ax.set_ylabel("share of candidates with lower error")
    ax.set_ylim(0.0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def plot_edf(board: Leaderboard, path: Path) -> bool:
    """For each sub-family, the share of its complete candidates with test error below x (pycls's EDF)."""
    complete = _complete(board)
    if not complete:
        return False
    fig, (ax,) = _figure(EDF_SIZE)
    key = board.family_key
    for family in sorted({e.family for e in complete}):
        _edf(ax, [e for e in complete if e.family == family], f"{key}={family}" if key else "all")
    _finish_edf(fig, ax, f"sweep {board.sweep.settings.name}: error EDF of complete candidates", path)
    return True


def plot_edf_comparison(boards: list[Leaderboard], path: Path) -> bool:
    """One error EDF per sweep, on one plot: design spaces compared as pycls compares them (each sweep's
    complete candidates; the sweeps should share a budget band, constraints.min_macs and max_macs)."""
    if not any(_complete(board) for board in boards):
        return False
    fig, (ax,) = _figure(EDF_SIZE)
    for board in boards:
        if _complete(board):
            _edf(ax, _complete(board), board.sweep.settings.name)
    names = " vs ".join(board.sweep.settings.name for board in boards)
    _finish_edf(fig, ax, f"error EDF of complete candidates: {names}", path)
    return True
