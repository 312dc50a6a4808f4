"""PNG figures of a run: d2l-style training curves and a confusion matrix (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archspec.config.files import write_atomic

CURVES_SIZE = (640, 400)  # pixels
CONFUSION_SIZE = (720, 640)
_DPI = 100


def _figure(size: tuple[int, int]) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] / _DPI, size[1] / _DPI), dpi=_DPI)
    return fig, fig.add_subplot()


def _save(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)  # no bbox_inches="tight": the size stays as declared
    write_atomic(path, buffer.getvalue())


def plot_curves(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> None:
    """Train loss, train acc and test acc against epochs on one axis, like d2l's Animator."""
    fig, ax = _figure(CURVES_SIZE)
    epochs = [row["epoch"] for row in rows]
    ax.plot(epochs, [row["train_loss"] for row in rows], "-", label="train loss")
    ax.plot(epochs, [row["train_acc"] for row in rows], "m--", label="train acc")
    ax.plot(epochs, [row["test_acc"] for row in rows], "g-.", label="test acc")
    ax.set_xlabel("epoch")
    ax.set_xlim(0.5, max(epochs[-1] if epochs else 1, 1) + 0.5)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")  # where it hides the fewest points: the loss may cross the right edge mid-height
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def plot_confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], path: Path, title: str = "") -> None:
    """Row-normalised confusion matrix (rows: true class, columns: predicted), with counts in the cells."""
    fig, ax = _figure(CONFUSION_SIZE)
    totals = [max(sum(row), 1) for row in matrix]
    shares = [[count / total for count in row] for row, total in zip(matrix, totals, strict=True)]
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ticks = range(len(classes))
    ax.set_xticks(ticks, labels=classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, labels=classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            color = "white" if shares[i][j] > 0.5 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; ValueError if the file is not a PNG."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path}: not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
