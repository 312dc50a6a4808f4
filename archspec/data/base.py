"""What every dataset kind returns and what the trainer checks it against. numpy only, no torch.

A `Dataset` is a list of class names, a channel count, a native image size and two splits. A split is
either `Split` (uint8 arrays held in memory or memory-mapped from the decode cache) or `FileSplit` (image
files decoded batch by batch by DataLoader workers, for data over the memory limit).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
from pydantic import Field, PositiveFloat, model_validator

from archspec.config.diagnostics import counted
from archspec.config.model import Model, fail
from archspec.errors import DataError
from archspec.spec.schema import ResNetSpec

MEAN_STD_SAMPLE = 10_000  # images a streamed split's mean/std is estimated from
Log = Callable[[str], None]


def mean_field() -> Any:
    return Field(
        None, description="Per-channel mean of pixel/255 to normalise with; null: computed from the training split."
    )


def std_field() -> Any:
    return Field(
        None, description="Per-channel standard deviation of pixel/255; null: computed from the training split."
    )


class DataBase(Model):
    """What every dataset kind has: `mean` and `std`, checked here. Each kind declares the two fields last
    (mean_field, std_field), so that `kind` leads its dumps, docs and JSON Schema: fields declared here would
    come first."""

    if TYPE_CHECKING:
        mean: list[float] | None
        std: list[PositiveFloat] | None

    @model_validator(mode="after")
    def _check_stats(self) -> Self:  # runs for every kind
        if (self.mean is None) != (self.std is None):
            fail(("mean" if self.mean is None else "std",), "give mean and std together, or neither")
        if self.mean is not None and self.std is not None and len(self.mean) != len(self.std):
            fail(("std",), f"has {len(self.std)} values but mean has {len(self.mean)}; give one per channel")
        return self


@dataclass(frozen=True)
class DataOptions:
    """Per-run choices that are not part of the recipe: where the data is, and how much of it to use.

    `data_dir` replaces the dataset's location (an IDX folder or `sample`, a folder root, a CIFAR archive).
    """

    data_dir: str | None = None
    max_train: int | None = None
    max_test: int | None = None


@dataclass(frozen=True)
class Target:
    """What the model expects: its input channels and size and its number of classes (from the spec)."""

    channels: int
    height: int
    width: int
    num_classes: int
    name: str = "the spec"

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width

    @classmethod
    def of(cls, spec: ResNetSpec) -> Target:
        """What a model built from `spec` takes and predicts."""
        return cls(spec.input.channels, spec.input.height, spec.input.width, spec.head.num_classes, f"spec {spec.name}")


def _silent(message: str) -> None:
    """A log that says nothing."""


@dataclass(frozen=True)
class Request:
    """How a dataset is asked for: the run's data options, the spec it must fit, which splits, where to log."""

    options: DataOptions = DataOptions()
    target: Target | None = None
    train: bool = True  # False: the test split only (evaluate)
    log: Log = _silent
    quiet: bool = False  # no progress bars


@dataclass(frozen=True)
class Split:
    """Images as uint8 (N, C, H, W) or (N, H, W) for one channel, and int64 labels, in memory or memory-mapped."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def head(self, count: int | None) -> Split:
        if count is None or count >= len(self):
            return self
        return Split(self.images[:count], self.labels[:count])

    @property
    def nbytes(self) -> int:
        return int(self.images.nbytes)


@dataclass(frozen=True)
class FileSplit:
    """Image files decoded on the fly, each brought to `size` and `channels` as in `images.decode_image`."""

    files: tuple[Path, ...]
    labels: np.ndarray
    size: tuple[int, int]
    channels: int
    skip_unreadable: bool = False
    workers: int = 0

    def __len__(self) -> int:
        return int(self.labels.shape[0])


AnySplit = Split | FileSplit


@dataclass(frozen=True)
class Dataset:
    name: str  # in words: "fashion-mnist", "folder", "cifar-100 (fine labels)"
    classes: tuple[str, ...]
    channels: int
    native_size: tuple[int, int] | None  # (H, W); None when the images differ in size
    train: AnySplit | None  # None when only the test split was asked for (evaluate)
    test: AnySplit
    source: Path
    is_sample: bool = False
    mean: tuple[float, ...] | None = None  # the dataset's own statistics, when known (IDX) or given
    std: tuple[float, ...] | None = None
    skipped: tuple[str, ...] = field(default_factory=tuple)  # "path: reason" of unreadable files skipped
    measured: str = ""  # where mean/std came from when archspec computed them ("the training split"), for describe

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> str:
        what = " [BUNDLED SAMPLE (not the full dataset)]" if self.is_sample else " [full dataset]"
        if self.name not in ("fashion-mnist", "mnist"):
            what = ""
        counts = ([f"{len(self.train):,} train"] if self.train is not None else []) + [f"{len(self.test):,} test"]
        size = "x".join(map(str, self.native_size)) if self.native_size else "mixed sizes"
        skipped = f"; {counted(len(self.skipped), 'unreadable file')} skipped" if self.skipped else ""
        stats = ""
        if self.measured and self.mean is not None and self.std is not None:
            stats = f"; mean {_numbers(self.mean)}, std {_numbers(self.std)} (from {self.measured})"
        return (
            f"{self.name} from {self.source}{what}: {', '.join(counts)}; {self.num_classes} classes, "
            f"{counted(self.channels, 'channel')}, {size}{skipped}{stats}"
        )

    def with_stats(self, mean: Sequence[float] | None, std: Sequence[float] | None, measured: str = "") -> Dataset:
        if mean is None or std is None:
            return self
        return replace(self, mean=tuple(mean), std=tuple(std), measured=measured)


def _numbers(values: tuple[float, ...]) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in values) + "]"


def fingerprint(data: Dataset) -> str:
    """A hash of what a dataset holds, cheap enough to take on every start: its classes, and for each split its
    labels and either a strided sample of 256 decoded images or its files' names relative to the source.
    Processes of one run on several machines compare theirs (a copy that differs is refused)."""
    digest = hashlib.sha256(f"{data.name}\0{data.channels}\0{data.classes}\n".encode())
    for split in (data.train, data.test):
        if split is None:
            continue
        digest.update(f"{type(split).__name__} {len(split)}\n".encode())
        digest.update(np.ascontiguousarray(split.labels, dtype=np.int64).tobytes())
        if isinstance(split, Split):
            digest.update(np.ascontiguousarray(split.images[:: max(1, len(split) // 256)]).tobytes())
        else:
            for file in split.files:
                digest.update(f"{_relative(file, data.source)}\0".encode(errors="surrogateescape"))
    return "sha256:" + digest.hexdigest()[:16]


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name


def check_target(classes: int, channels: int | None, target: Target | None, what: str, converts: bool = False) -> None:
    """The spec's head and input against the dataset, before anything is decoded or trained.

    `channels` None: the dataset converts its images to whatever the spec takes (a folder of images).
    """
    if target is None:
        return
    if classes != target.num_classes:
        raise DataError(
            f"{target.name} has head.num_classes={target.num_classes} but {what} has {classes} classes; "
            f"use --set head.num_classes={classes}"
        )
    if converts:
        if target.channels not in (1, 3):
            raise DataError(
                f"{target.name} takes {target.channels} input channels; images convert to 1 (grayscale) or "
                f"3 (RGB): use --set input.channels=3 (or 1)"
            )
        return
    if channels is not None and channels != target.channels:
        raise DataError(
            f"{target.name} takes {target.channels} input channels but {what} has {channels}; "
            f"use --set input.channels={channels}"
        )


def check_labels(labels: np.ndarray, classes: int, where: str) -> None:
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        bad = int(labels.max()) if int(labels.max()) >= classes else int(labels.min())
        raise DataError(f"{where}: label {bad} out of range 0..{classes - 1} (corrupt file?)")


def channel_stats(split: AnySplit, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of pixel/255 over a split held as arrays (chunked: it may be memory-mapped)."""
    if not isinstance(split, Split):
        raise TypeError("channel_stats needs decoded arrays; estimate a streamed split from a decoded sample")
    images = split.images if split.images.ndim == 4 else split.images[:, None]
    total = np.zeros(channels)
    squares = np.zeros(channels)
    count = 0
    for begin in range(0, len(split), 4096):
        chunk = images[begin : begin + 4096].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 2, 3))
        squares += (chunk * chunk).sum(axis=(0, 2, 3))
        count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
    if count == 0:
        return (0.0,) * channels, (1.0,) * channels
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 1e-12))
    return tuple(round(float(m), 6) for m in mean), tuple(round(float(s), 6) for s in std)


def cache_root() -> Path:
    """`$ARCHSPEC_CACHE`, else ~/.cache/archspec: downloads and decoded images go under it."""
    env = os.environ.get("ARCHSPEC_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "archspec"


def expand(path: str | Path) -> Path:
    return Path(os.path.expanduser(str(path)))


def subset(count: int, keep: int | None, seed: int = 0) -> np.ndarray | None:
    """Indices of a fixed random `keep` of `count` items in their original order (None: keep all)."""
    if keep is None or keep >= count:
        return None
    chosen = np.random.default_rng(seed).permutation(count)[:keep]
    return np.sort(chosen)
