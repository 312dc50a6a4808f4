"""One PNG of several runs' curves overlaid: test accuracy and train loss against epochs (matplotlib, Agg)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from archspec.config.files import write_atomic
from archspec.errors import ArchspecError
from archspec.runs.folders import Run

SIZE = (960, 400)  # pixels: two panels of curves.png's 640x400 proportions, side by side
_DPI = 100


def plot_runs(runs: Sequence[Run], path: Path) -> None:
    """Each run's test accuracy (left) and train loss (right) per epoch, one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(SIZE[0] / _DPI, SIZE[1] / _DPI), dpi=_DPI)
    accuracy, loss = fig.subplots(1, 2)
    for run in runs:
        epochs = [row["epoch"] for row in run.rows]
        # markers: a run of one epoch is one point, which a line alone would not draw
        accuracy.plot(epochs, [row["test_acc"] for row in run.rows], "o-", markersize=3, label=run.summary.name)
        loss.plot(epochs, [row["train_loss"] for row in run.rows], "o-", markersize=3, label=run.summary.name)
    for ax, title in ((accuracy, "test acc"), (loss, "train loss")):
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(True, alpha=0.3)
    accuracy.legend(loc="best", fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    write_atomic(path, buffer.getvalue(), ArchspecError)


__all__ = ["plot_runs"]
