"""PNG figures of a run: d2l-style training curves and a confusion matrix (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archspec.artifacts.rundir import EMA_COLUMN
from archspec.config.files import write_atomic

CURVES_SIZE = (640, 400)  # pixels
CONFUSION_SIZE = (720, 640)
_DPI = 100
MAX_LABELS = 40  # class names on a confusion-matrix axis before only every k-th is named
MAX_COUNTS = 20  # classes up to which each cell shows its count


def _figure(size: tuple[int, int]) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] / _DPI, size[1] / _DPI), dpi=_DPI)
    return fig, fig.add_subplot()


def _png_bytes(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)  # no bbox_inches="tight": the size stays as declared
    return buffer.getvalue()


def _save(fig: Any, path: Path) -> None:
    write_atomic(path, _png_bytes(fig))


def plot_curves(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> None:
    """Train loss, train acc and test acc against epochs on one axis, like d2l's Animator."""
    fig, ax = _figure(CURVES_SIZE)
    epochs = [row["epoch"] for row in rows]
    # markers: a run of one epoch has one point per curve, which a line alone would not draw
    ax.plot(epochs, [row["train_loss"] for row in rows], "o-", markersize=4, label="train loss")
    ax.plot(epochs, [row["train_acc"] for row in rows], "ms--", markersize=4, label="train acc")
    ax.plot(epochs, [row["test_acc"] for row in rows], "g^-.", markersize=4, label="test acc")
    tested = [(row["epoch"], row[EMA_COLUMN]) for row in rows if EMA_COLUMN in row]  # where it was tested
    if tested:  # the recipe's weight average
        ax.plot(*zip(*tested, strict=True), "rv:", markersize=4, label="test acc (ema)")
    ax.set_xlabel("epoch")
    ax.set_xlim(0.5, max(epochs[-1] if epochs else 1, 1) + 0.5)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # epochs are whole numbers, even one
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")  # where it hides the fewest points: the loss may cross the right edge mid-height
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def plot_confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], path: Path, title: str = "") -> None:
    """Row-normalised confusion matrix (rows: true class, columns: predicted), with counts in the cells."""
    write_atomic(path, confusion_png(matrix, classes, title))


def confusion_png(matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str = "") -> bytes:
    """plot_confusion's picture as PNG bytes (what the experiment loggers send)."""
    fig, ax = _figure(CONFUSION_SIZE)
    totals = [max(sum(row), 1) for row in matrix]
    shares = [[count / total for count in row] for row, total in zip(matrix, totals, strict=True)]
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    # Any class count: every name up to MAX_LABELS classes, then every k-th; counts in the cells up to MAX_COUNTS.
    step = max(1, -(-len(classes) // MAX_LABELS))
    ticks = range(0, len(classes), step)
    names = [classes[i] for i in ticks]
    size = 8 if len(classes) <= 20 else 6
    ax.set_xticks(ticks, labels=names, rotation=45 if len(classes) <= 20 else 90, ha="right", fontsize=size)
    ax.set_yticks(ticks, labels=names, fontsize=size)
    ax.set_xlabel("predicted" + (f" (one name per {step} classes)" if step > 1 else ""))
    ax.set_ylabel("true")
    if len(classes) <= MAX_COUNTS:
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                color = "white" if shares[i][j] > 0.5 else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _png_bytes(fig)


def png_array(data: bytes) -> Any:
    """A PNG file's bytes as an (H, W, 3) uint8 array: the image the experiment loggers send."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; ValueError if the file is not a PNG."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path}: not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
