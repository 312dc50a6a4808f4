"""`kind: idx`: Fashion-MNIST and MNIST as uint8 arrays held in memory, read from IDX files (gzip or raw).

Where the files are looked for, first match wins:

1. `data_dir` (the CLI's `--data-dir`) or the recipe's `data.root`; the word `sample` means the bundled sample;
2. `$ARCHSPEC_DATA`;
3. `~/.cache/archspec/<dataset>` (`$ARCHSPEC_CACHE/<dataset>`);
4. `/usr/share/datasets/<dataset>` (Debian's `dataset-fashion-mnist`);
5. a download from the dataset's public location into the cache folder of step 3.

An explicit folder (steps 1 and 2) must hold all four files; the others are skipped when incomplete.
The bundled sample (the first 5,000 training and 1,000 test images of Fashion-MNIST) is used only
when asked for with `sample`: a run on it is labelled so everywhere, never passed off as the full set.

Downloads are checked by the SHA-256 of the decompressed IDX payload, not of the `.gz` file, because
re-compressed copies (Debian's, for one) carry the same images in different gzip bytes.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, PositiveFloat

from archspec.config.files import read_bounded, write_atomic
from archspec.data import download as net
from archspec.data.base import (
    DataBase,
    Dataset,
    Request,
    Split,
    cache_root,
    check_labels,
    check_target,
    expand,
    mean_field,
    std_field,
)
from archspec.errors import DataError

SAMPLE = "sample"
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_IDX_UBYTE = 0x08
MAX_FILE_BYTES = 1 << 30
STREAM_BYTES = 1 << 20  # what the check of a gzip file holds of its inflated data at a time
IMAGE_SIZE = (28, 28)
SYSTEM_DIR = Path("/usr/share/datasets")  # where Debian's dataset-* packages put their files
Name = Literal["fashion-mnist", "mnist"]


class IdxData(DataBase):
    kind: Literal["idx"] = Field(description="MNIST-style IDX files: Fashion-MNIST or MNIST (10 classes, 1x28x28).")
    name: Name = Field("fashion-mnist", description="Which dataset: its class names, statistics and download.")
    root: str | None = Field(
        None, description="Folder of the four IDX files, or 'sample' for the bundled sample; null: the search path."
    )
    classes: list[str] | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="Class names in label order, for IDX files of your own labelling (a subset of the classes, "
        "say); null: the dataset's own ten. Statistics are then computed from the training split.",
    )
    mean: list[float] | None = mean_field()
    std: list[PositiveFloat] | None = std_field()


@dataclass(frozen=True)
class DatasetInfo:
    """What archspec knows about a dataset: classes, normalisation statistics and where to fetch it."""

    name: str
    classes: tuple[str, ...]
    mean: float
    std: float
    url: str
    sha256: dict[str, str]  # of each decompressed IDX file, by file name


DATASETS: dict[str, DatasetInfo] = {
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        # d2l's get_fashion_mnist_labels, in label order.
        classes=("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"),
        mean=0.2860,
        std=0.3530,
        url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        # Computed from Debian's dataset-fashion-mnist files, identical in content to Zalando's.
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
    ),
    "mnist": DatasetInfo(
        name="mnist",
        classes=tuple(str(digit) for digit in range(10)),
        mean=0.1307,
        std=0.3081,
        # yann.lecun.com now refuses anonymous downloads; this is the mirror torchvision uses.
        url="https://ossci-datasets.s3.amazonaws.com/mnist/",
        # As widely pinned for the decompressed files; not re-derived here (no MNIST copy on the dev machine).
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
    ),
}


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name]


def sample_dir(name: str = "fashion-mnist") -> Path:
    return Path(str(resources.files("archspec") / "datasets" / f"{name}-sample"))


# --- IDX files ----------------------------------------------------------------------------------


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes (gzip or raw) as a uint8 array; DataError naming the file if it is bad."""
    return parse_idx(read_bounded(path, MAX_FILE_BYTES, DataError, "an MNIST-style IDX file"), ndim, str(path))


def parse_idx(raw: bytes, ndim: int, source: str) -> np.ndarray:
    data = _decompress(raw, ndim, source)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated IDX file: {len(data)} bytes, shorter than its {header}-byte header")
    dims = _dims(data, ndim, source)
    expected = header + math.prod(dims)
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(f"{source}: {problem}: header says {_shape(dims)} values ({expected:,} bytes), file has "
                        f"{len(data):,}")  # fmt: skip
    if not all(dims):
        raise DataError(f"{source}: empty IDX file (shape {dims})")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _dims(data: bytes, ndim: int, source: str) -> list[int]:
    """The dimensions an IDX header of `ndim` unsigned-byte dimensions gives; DataError for any other magic."""
    if data[0] != 0 or data[1] != 0 or data[2] != _IDX_UBYTE or data[3] != ndim:
        raise DataError(
            f"{source}: not an IDX file of {ndim}-d unsigned bytes (magic {data[:4].hex()}, expected 000008{ndim:02x})"
        )
    return [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]


def _shape(dims: list[int]) -> str:
    return "x".join(map(str, dims))


def _decompress(raw: bytes, ndim: int | None, source: str) -> bytes:
    """gzip data inflated, once a first pass that keeps nothing has checked it fits (see `_check_gzip`)."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    size = _check_gzip(raw, ndim, source)
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, size)


def _check_gzip(raw: bytes, ndim: int | None, source: str) -> int:
    """The inflated size of gzip data, counted while it streams through a small buffer: a file that inflates
    past MAX_FILE_BYTES, or (given `ndim`) past what its IDX header says, is refused as soon as it does, having
    held no more than STREAM_BYTES of it (a gzip bomb costs its compressed size, not gigabytes)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head, total = b"", 0
    limit = MAX_FILE_BYTES
    header = 4 + 4 * ndim if ndim is not None else 0
    pending, what = raw, ""
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, STREAM_BYTES)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:  # all read, nothing more held back
                break
            total += len(chunk)
            if len(head) < header:
                head += chunk[: header - len(head)]
                if len(head) == header:
                    dims = _dims(head, ndim or 0, source)
                    limit = min(limit, header + math.prod(dims))
                    what = f"its header's {_shape(dims)} values ({limit:,} bytes)"
            if total > limit:
                if limit == MAX_FILE_BYTES:
                    raise DataError(f"{source}: inflates to over {MAX_FILE_BYTES:,} bytes, the limit for an IDX file")
                raise DataError(f"{source}: has trailing bytes: inflates to more than {what}")
    except zlib.error as err:
        raise DataError(f"{source}: truncated or corrupt gzip data: {err}") from None
    if not inflater.eof:
        raise DataError(f"{source}: truncated or corrupt gzip data: the compressed stream ends early")
    return total


def load_split(folder: Path, prefix: str, classes: int = 10) -> Split:
    """The images and labels of one split (`train` or `t10k`) from a folder."""
    images_path = _find(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _find(folder, f"{prefix}-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        raise DataError(f"{folder}: missing {prefix}-images-idx3-ubyte[.gz] or {prefix}-labels-idx1-ubyte[.gz]")
    images = read_idx(images_path, 3)
    if images.shape[1:] != IMAGE_SIZE:
        found = "x".join(map(str, images.shape[1:]))
        raise DataError(f"{images_path}: images are {found}; MNIST-style IDX images are 28x28 (corrupt file?)")
    labels = read_idx(labels_path, 1)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{labels_path}: {labels.shape[0]:,} labels for {images.shape[0]:,} images in {images_path}")
    check_labels(labels, classes, str(labels_path))
    return Split(images, labels.astype(np.int64))


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def _complete(folder: Path) -> bool:
    return all(_find(folder, name) is not None for name in FILES)


# --- finding and fetching -----------------------------------------------------------------------


def search_path(name: str, data_dir: str | Path | None = None) -> list[tuple[str, Path]]:
    """The folders looked in, in order, each with where it came from."""
    places: list[tuple[str, Path]] = []
    if data_dir is not None:
        places.append(("--data-dir", sample_dir(name) if str(data_dir) == SAMPLE else expand(data_dir)))
    env = os.environ.get("ARCHSPEC_DATA")
    if env:
        places.append(("$ARCHSPEC_DATA", Path(env)))
    places.append(("cache", cache_dir(name)))
    places.append(("system", SYSTEM_DIR / name))
    return places


def cache_dir(name: str) -> Path:
    return cache_root() / name


def locate(name: str, data_dir: str | Path | None = None) -> Path:
    """The folder that holds the dataset's four IDX files, downloading into the cache if none does."""
    info = dataset_info(name)
    if str(data_dir) == SAMPLE and not sample_dir(name).is_dir():
        raise DataError(f"--data-dir sample: no bundled sample of {name}; only fashion-mnist has one")
    places = search_path(name, data_dir)
    for origin, folder in places:
        if _complete(folder):
            return folder
        if origin in ("--data-dir", "$ARCHSPEC_DATA"):  # an explicit choice is never silently skipped
            if not folder.is_dir():
                raise DataError(f"{folder} (from {origin}): {'not a folder' if folder.exists() else 'no such folder'}")
            missing = [f for f in FILES if _find(folder, f) is None]
            raise DataError(f"{folder} (from {origin}): missing {', '.join(f + '[.gz]' for f in missing)}")
    target = cache_dir(name)
    try:
        download(info, target)
    except DataError as err:
        looked = ", ".join(str(folder) for _, folder in places)
        sample = "; or use --data-dir sample for the bundled 5,000-image sample" if sample_dir(name).is_dir() else ""
        raise DataError(
            f"{err}. Looked in: {looked}. Put the IDX files in one of those or pass --data-dir{sample}"
        ) from None
    return target


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    train: bool = True,
    classes: tuple[str, ...] | None = None,
) -> Dataset:
    """The dataset in memory as uint8 arrays, optionally cut to its first `max_train`/`max_test` images.

    `classes`: names for files labelled otherwise than the dataset (labels must lie below their count);
    the dataset's published mean and std then no longer apply and are left to be computed.
    """
    info = dataset_info(name)
    folder = locate(name, data_dir)
    names = classes or info.classes
    train_split = load_split(folder, "train", len(names)).head(max_train) if train else None
    test_split = load_split(folder, "t10k", len(names)).head(max_test)
    is_sample = folder.resolve() == sample_dir(name).resolve()
    stats = ((info.mean,), (info.std,)) if classes is None else (None, None)
    return Dataset(info.name, names, 1, IMAGE_SIZE, train_split, test_split, folder, is_sample, *stats)


def load(config: IdxData, request: Request) -> Dataset:
    """`kind: idx` for the trainer: checked against the spec before the files are read."""
    info = dataset_info(config.name)
    names = tuple(config.classes) if config.classes else info.classes
    check_target(len(names), 1, request.target, info.name if config.classes is None else f"{info.name} (relabelled)")
    options = request.options
    data = load_dataset(
        config.name, options.data_dir or config.root, options.max_train, options.max_test, request.train, names
    )
    return data.with_stats(config.mean, config.std)


def download(info: DatasetInfo, target: Path, base_url: str | None = None) -> None:
    """Fetch the four `.gz` files, check each decompressed payload's SHA-256, write each atomically."""
    base = base_url or info.url
    for name in FILES:
        url = f"{base.rstrip('/')}/{name}.gz"
        raw = net.fetch(url, MAX_FILE_BYTES)
        net.check_sha256(_decompress(raw, None, url), info.sha256[name], url, "decompressed file")
        write_atomic(target / f"{name}.gz", raw, DataError)
