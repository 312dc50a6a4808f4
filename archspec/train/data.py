"""Fashion-MNIST and MNIST as uint8 tensors held in memory, read from IDX files (gzip or raw).

Where the files are looked for, first match wins:

1. `data_dir` (the CLI's `--data-dir`); the word `sample` means the bundled sample;
2. `$ARCHSPEC_DATA`;
3. `~/.cache/archspec/<dataset>`;
4. `/usr/share/datasets/<dataset>` (Debian's `dataset-fashion-mnist`);
5. a download from the dataset's public location into the cache folder of step 3.

An explicit folder (steps 1 and 2) must hold all four files; the others are skipped when incomplete.
The bundled sample (the first 5,000 training and 1,000 test images of Fashion-MNIST) is used only
when asked for with `sample`: a run on it is labelled so everywhere, never passed off as the full set.

Downloads are checked by the SHA-256 of the decompressed IDX payload, not of the `.gz` file, because
re-compressed copies (Debian's, for one) carry the same images in different gzip bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from archspec.config.files import read_bounded, write_atomic
from archspec.errors import DataError

SAMPLE = "sample"
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_IDX_UBYTE = 0x08
MAX_FILE_BYTES = 1 << 30
SYSTEM_DIR = Path("/usr/share/datasets")  # where Debian's dataset-* packages put their files


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


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # (N, H, W) uint8
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def head(self, count: int | None) -> Split:
        if count is None or count >= len(self):
            return self
        return Split(self.images[:count], self.labels[:count])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


@dataclass(frozen=True)
class Dataset:
    info: DatasetInfo
    train: Split
    test: Split
    source: Path
    is_sample: bool

    def describe(self) -> str:
        what = "BUNDLED SAMPLE (not the full dataset)" if self.is_sample else "full dataset"
        return f"{self.info.name} from {self.source} [{what}]: {len(self.train):,} train, {len(self.test):,} test"


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name]


def sample_dir(name: str = "fashion-mnist") -> Path:
    return Path(str(resources.files("archspec") / "datasets" / f"{name}-sample"))


# --- IDX files ----------------------------------------------------------------------------------


def read_idx(path: Path, ndim: int) -> torch.Tensor:
    """An IDX file of unsigned bytes (gzip or raw) as a uint8 tensor; DataError naming the file if it is bad."""
    return parse_idx(read_bounded(path, MAX_FILE_BYTES, DataError, "an MNIST-style IDX file"), ndim, str(path))


def parse_idx(raw: bytes, ndim: int, source: str) -> torch.Tensor:
    data = _decompress(raw, source)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated IDX file: {len(data)} bytes, shorter than its {header}-byte header")
    if data[0] != 0 or data[1] != 0 or data[2] != _IDX_UBYTE or data[3] != ndim:
        raise DataError(
            f"{source}: not an IDX file of {ndim}-d unsigned bytes (magic {data[:4].hex()}, expected 000008{ndim:02x})"
        )
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(dims)
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        shape = "x".join(map(str, dims))
        raise DataError(f"{source}: {problem}: header says {shape} values ({expected:,} bytes), file has {len(data):,}")
    if not all(dims):
        raise DataError(f"{source}: empty IDX file (shape {dims})")
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(dims)


def _decompress(raw: bytes, source: str) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(f"{source}: truncated or corrupt gzip data: {err}") from None


def load_split(folder: Path, prefix: str) -> Split:
    """The images and labels of one split (`train` or `t10k`) from a folder."""
    images_path = _find(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _find(folder, f"{prefix}-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        raise DataError(f"{folder}: missing {prefix}-images-idx3-ubyte[.gz] or {prefix}-labels-idx1-ubyte[.gz]")
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{labels_path}: {labels.shape[0]:,} labels for {images.shape[0]:,} images in {images_path}")
    top = int(labels.max())
    if top > 9:
        raise DataError(f"{labels_path}: label {top} out of range 0..9 (corrupt file?)")
    return Split(images, labels.long())


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
        places.append(("--data-dir", sample_dir(name) if str(data_dir) == SAMPLE else Path(data_dir)))
    env = os.environ.get("ARCHSPEC_DATA")
    if env:
        places.append(("$ARCHSPEC_DATA", Path(env)))
    places.append(("cache", cache_dir(name)))
    places.append(("system", SYSTEM_DIR / name))
    return places


def cache_dir(name: str) -> Path:
    return Path.home() / ".cache" / "archspec" / name


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
    name: str, data_dir: str | Path | None = None, max_train: int | None = None, max_test: int | None = None
) -> Dataset:
    """The dataset in memory as uint8 tensors, optionally cut to its first `max_train`/`max_test` images."""
    info = dataset_info(name)
    folder = locate(name, data_dir)
    train = load_split(folder, "train").head(max_train)
    test = load_split(folder, "t10k").head(max_test)
    is_sample = folder.resolve() == sample_dir(name).resolve()
    return Dataset(info, train, test, folder, is_sample)


def fetch(url: str) -> bytes:
    """The bytes at `url` (http(s) or file://). Module-level so that tests can replace it."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data: bytes = response.read(MAX_FILE_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(f"cannot download {url}: {reason}") from None
    if len(data) > MAX_FILE_BYTES:
        raise DataError(f"{url}: more than {MAX_FILE_BYTES:,} bytes; not an MNIST-style file")
    return data


def download(info: DatasetInfo, target: Path, base_url: str | None = None) -> None:
    """Fetch the four `.gz` files, check each decompressed payload's SHA-256, write each atomically."""
    base = base_url or info.url
    for name in FILES:
        url = f"{base.rstrip('/')}/{name}.gz"
        raw = fetch(url)
        digest = hashlib.sha256(_decompress(raw, url)).hexdigest()
        if digest != info.sha256[name]:
            raise DataError(f"{url}: SHA-256 of the decompressed file is {digest}, expected {info.sha256[name]}")
        write_atomic(target / f"{name}.gz", raw, DataError)
