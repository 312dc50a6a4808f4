"""`kind: cifar`: CIFAR-10 and CIFAR-100, "python version", from the `.tar.gz` or its extracted folder.

The batches are Python pickles. Unpickling runs code named in the file, so they are read with an
unpickler that admits only what a numpy array and a bytes object need (numpy's `_reconstruct`,
`ndarray`, `dtype`, `_codecs.encode`) and refuses anything else: written by hand, because no library
reads these pickles safely. Members are read straight from the archive (nothing is extracted),
each bounded in size. With no `root`, the archive is downloaded into the cache and its SHA-256 checked.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat

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

MAX_MEMBER_BYTES = 400 << 20  # CIFAR-100's train batch is 155 MB
PIXELS = 3 * 32 * 32
Variant = Literal["cifar10", "cifar100"]


class CifarData(DataBase):
    kind: Literal["cifar"] = Field(description="CIFAR-10 or CIFAR-100, the python-version archive (3x32x32).")
    root: str | None = Field(
        None,
        description="The .tar.gz or its extracted folder; null: downloaded (SHA-256 checked) into the cache.",
    )
    variant: Variant | None = Field(
        None, description="cifar10 or cifar100; null: read from the archive (cifar10 when downloading)."
    )
    labels: Literal["fine", "coarse"] = Field(
        "fine", description="CIFAR-100's 100 fine classes or its 20 coarse superclasses."
    )
    mean: list[float] | None = mean_field()
    std: list[PositiveFloat] | None = std_field()


@dataclass(frozen=True)
class Layout:
    archive: str  # file name of the download
    folder: str  # top folder inside the archive
    url: str
    sha256: str
    train: tuple[str, ...]
    test: str
    meta: str


LAYOUTS: dict[str, Layout] = {
    "cifar10": Layout(
        "cifar-10-python.tar.gz",
        "cifar-10-batches-py",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
    ),
    "cifar100": Layout(
        "cifar-100-python.tar.gz",
        "cifar-100-python",
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
        ("train",),
        "test",
        "meta",
    ),
}

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")


def unpickle(raw: bytes, source: str) -> dict[str, Any]:
    """A CIFAR batch or meta pickle as a dict with str keys; DataError naming `source` if it is anything else."""
    try:
        value = _SafeUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as err:  # a damaged pickle raises any of a dozen exception types
        raise DataError(f"{source}: not a CIFAR pickle ({type(err).__name__}: {str(err)[:120]})") from None
    if not isinstance(value, dict):
        raise DataError(f"{source}: not a CIFAR pickle (holds a {type(value).__name__}, not a dict)")
    return {key.decode("latin1") if isinstance(key, bytes) else str(key): item for key, item in value.items()}


# --- reading the members ------------------------------------------------------------------------


def read_members(path: Path, names: set[str]) -> dict[str, bytes]:
    """The members named (by base name) from an archive or a folder; missing ones are simply absent."""
    if path.is_dir():
        found: dict[str, bytes] = {}
        for folder in (path, *(path / layout.folder for layout in LAYOUTS.values())):
            for name in names - set(found):
                member = folder / name
                if member.is_file():
                    found[name] = _bounded(member.read_bytes(), str(member))
        return found
    try:
        with tarfile.open(path, "r:*") as archive:
            found = {}
            for info in archive:
                base = info.name.rsplit("/", 1)[-1]
                if base in names and base not in found and info.isfile():
                    if info.size > MAX_MEMBER_BYTES:
                        raise DataError(f"{path}: member {info.name} is {info.size:,} bytes, too big for CIFAR")
                    handle = archive.extractfile(info)
                    if handle is not None:
                        found[base] = handle.read()
            return found
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"{path}: not a readable .tar.gz archive ({err})") from None


def _bounded(raw: bytes, source: str) -> bytes:
    if len(raw) > MAX_MEMBER_BYTES:
        raise DataError(f"{source}: {len(raw):,} bytes, too big for a CIFAR batch")
    return raw


def detect(members: dict[str, bytes], path: Path, variant: Variant | None) -> Layout:
    found = [name for name, layout in LAYOUTS.items() if layout.meta in members]
    if variant is not None:
        layout = LAYOUTS[variant]
        if layout.meta not in members:
            raise DataError(f"{path}: no {layout.meta} member, so not the {variant} python version archive")
        return layout
    if not found:
        raise DataError(f"{path}: not a CIFAR python archive: it has no batches.meta (CIFAR-10) or meta (CIFAR-100)")
    return LAYOUTS[found[0]]


def batch(raw: bytes, source: str, label_key: str, classes: int) -> Split:
    """One batch: (N, 3, 32, 32) uint8 images and int64 labels, checked."""
    content = unpickle(raw, source)
    if "data" not in content or label_key not in content:
        raise DataError(f"{source}: CIFAR batch lacks {'data' if 'data' not in content else label_key!r}")
    data = content["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        shape = "x".join(map(str, getattr(data, "shape", ()))) or type(data).__name__
        raise DataError(f"{source}: data is {shape} {getattr(data, 'dtype', '')}, expected N x {PIXELS} uint8")
    labels = np.asarray(content[label_key])
    if labels.shape != (data.shape[0],) or labels.dtype.kind not in "iu":
        raise DataError(f"{source}: {labels.size:,} {label_key} for {data.shape[0]:,} images")
    check_labels(labels, classes, source)
    return Split(data.reshape(-1, 3, 32, 32), labels.astype(np.int64))


def class_names(raw: bytes, source: str, key: str) -> tuple[str, ...]:
    content = unpickle(raw, source)
    names = content.get(key)
    if not isinstance(names, list) or not names or not all(isinstance(n, str | bytes) for n in names):
        raise DataError(f"{source}: no list of {key} in the meta member")
    return tuple(n.decode() if isinstance(n, bytes) else n for n in names)


# --- the kind -----------------------------------------------------------------------------------


def locate(config: CifarData, data_dir: str | None) -> Path:
    given = data_dir or config.root
    if given is not None:
        path = expand(given)
        if not path.exists():
            raise DataError(f"{path}: no such CIFAR archive or folder")
        return path
    layout = LAYOUTS[config.variant or "cifar10"]
    path = cache_root() / layout.archive
    if not path.is_file():
        try:
            net.download_verified(layout.url, layout.sha256, path)
        except DataError as err:
            raise DataError(f"{err}; put {layout.archive} at {path} or give data.root (or --data-dir)") from None
    return path


def load(config: CifarData, request: Request) -> Dataset:
    """`kind: cifar`: the classes from the meta member (checked against the spec), then the batches."""
    path = locate(config, request.options.data_dir)
    wanted_names = {name for layout in LAYOUTS.values() for name in (layout.test, layout.meta)}
    if request.train:
        wanted_names |= {name for layout in LAYOUTS.values() for name in layout.train}
    members = read_members(path, wanted_names)
    layout = detect(members, path, config.variant)
    variant = "cifar100" if layout is LAYOUTS["cifar100"] else "cifar10"
    if variant == "cifar10":
        names_key, label_key, name = "label_names", "labels", "cifar-10"
    else:
        names_key, label_key = f"{config.labels}_label_names", f"{config.labels}_labels"
        name = f"cifar-100 ({config.labels} labels)"
    names = class_names(members[layout.meta], f"{path}:{layout.meta}", names_key)
    check_target(len(names), 3, request.target, name)
    wanted = (*layout.train, layout.test) if request.train else (layout.test,)
    missing = [member for member in wanted if member not in members]
    if missing:
        raise DataError(f"{path}: no {missing[0]} member; not a complete {name} python archive")
    test = batch(members[layout.test], f"{path}:{layout.test}", label_key, len(names))
    train = None
    if request.train:
        parts = [batch(members[m], f"{path}:{m}", label_key, len(names)) for m in layout.train]
        train = Split(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]))
        train = train.head(request.options.max_train)
    return Dataset(
        name,
        names,
        3,
        (32, 32),
        train,
        test.head(request.options.max_test),
        path,
        mean=tuple(config.mean) if config.mean else None,
        std=tuple(config.std) if config.std else None,
    )
