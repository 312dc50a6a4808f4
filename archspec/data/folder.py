"""`kind: folder`: your own images, one folder per class.

    root/train/<class>/*.png|jpg|jpeg|bmp|webp     and root/val/<class>/... (or root/test/<class>/...)
    root/<class>/...                               one root, split per class by a seeded fraction

Class names are the sorted folder names of the training split. Files are listed with `os.scandir` (one
call per folder, so 100,000 files cost one pass, never a glob per file); subfolders of a class folder
count as that class; a folder that leads back to one of its ancestors (a symlink loop) is an error.
Images are decoded once with Pillow into the decode cache (cache.py) and read from it afterwards; data
over `memory_limit` streams from the files instead, decoded batch by batch in DataLoader workers.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from archspec.config.diagnostics import counted
from archspec.data import cache
from archspec.data.base import (
    DataBase,
    DataOptions,
    Dataset,
    FileSplit,
    Request,
    Split,
    check_target,
    expand,
    mean_field,
    std_field,
    subset,
)
from archspec.data.images import EXTENSIONS, default_workers
from archspec.errors import DataError, Problem, and_more

TEST_FOLDERS = ("val", "test")


class FolderData(DataBase):
    kind: Literal["folder"] = Field(description="A folder of images, one subfolder per class.")
    root: str | None = Field(
        None, description="The folder: root/train/<class>/ with root/val/ or root/test/, or root/<class>/ alone."
    )
    val_fraction: float = Field(
        0.1, gt=0.0, lt=1.0, description="Share of each class held out for testing when there is no val/ or test/."
    )
    split_seed: NonNegativeInt = Field(0, le=2**32 - 1, description="Seeds that held-out share.")
    skip_unreadable: bool = Field(
        False, description="Skip (and count) files that do not decode; false: the first one is an error naming it."
    )
    workers: NonNegativeInt | None = Field(
        None, le=256, description="Decoding processes; 0: this process; null: one per CPU (up to 8) for big jobs."
    )
    memory_limit: PositiveInt | None = Field(
        None,
        le=2**50,
        description="Bytes of decoded images held in memory (memory-mapped); over it the data streams from the "
        "files each epoch. null: half of this machine's memory.",
    )
    mean: list[float] | None = mean_field()
    std: list[PositiveFloat] | None = std_field()


@dataclass(frozen=True)
class Listing:
    """The image files of one split, in class then path order, with their labels and (size, mtime)."""

    folder: Path
    files: list[Path]
    labels: list[int]
    stats: list[tuple[int, int]]

    def take(self, keep: np.ndarray | None) -> Listing:
        if keep is None:
            return self
        return Listing(
            self.folder,
            [self.files[i] for i in keep],
            [self.labels[i] for i in keep],
            [self.stats[i] for i in keep],
        )


def class_folders(folder: Path) -> list[tuple[str, Path]]:
    """(name, path) of each class folder, sorted by name; DataError when there are none."""
    found: list[tuple[str, Path]] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.startswith(".") and _is_dir(entry):
                    found.append((entry.name, Path(entry.path)))
    except OSError as err:
        raise DataError(f"{folder}: cannot list: {err.strerror or err}") from None
    if not found:
        raise DataError(f"{folder}: no class folders (expected {folder}/<class>/<image>.png ...)")
    return sorted(found)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError as err:
        raise DataError(f"{entry.path}: {_os_reason(err)}") from None


def _os_reason(err: OSError) -> str:
    return "symlink loop" if err.errno == errno.ELOOP else f"cannot read: {err.strerror or err}"


def list_images(folder: Path, skip: list[str] | None = None) -> list[tuple[Path, tuple[int, int]]]:
    """Every image file under `folder` (recursively) with its (size, mtime_ns), sorted by path.

    One scandir per folder; a subfolder that is one of its own ancestors (a symlink loop) is an error, as
    is a file that cannot be stat'ed (a dangling or looping link), unless `skip` collects them.
    """
    found: list[tuple[Path, tuple[int, int]]] = []
    root_stat = folder.stat()
    stack: list[tuple[Path, tuple[tuple[int, int], ...]]] = [(folder, ((root_stat.st_dev, root_stat.st_ino),))]
    while stack:
        current, ancestors = stack.pop()
        try:
            with os.scandir(current) as entries:
                items = list(entries)
        except OSError as err:
            raise DataError(f"{current}: cannot list: {err.strerror or err}") from None
        for entry in items:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    info = entry.stat()
                    ident = (info.st_dev, info.st_ino)
                    if ident in ancestors:
                        raise DataError(f"{entry.path}: symlink loop (leads back to a folder that contains it)")
                    stack.append((Path(entry.path), (*ancestors, ident)))
                elif os.path.splitext(entry.name)[1].lower() in EXTENSIONS:
                    info = entry.stat()  # follows symlinks: the file's own size and time
                    found.append((Path(entry.path), (info.st_size, info.st_mtime_ns)))
            except OSError as err:
                if skip is None:
                    raise DataError(f"{entry.path}: {_os_reason(err)}") from None
                skip.append(f"{entry.path}: {_os_reason(err)}")
    found.sort(key=lambda item: str(item[0]))
    return found


def list_split(folder: Path, classes: list[str] | None, skip: list[str] | None) -> tuple[list[str], Listing]:
    """The classes and files of one split folder; `classes`, when given, are the training split's."""
    folders = class_folders(folder)
    names = [name for name, _ in folders]
    if classes is not None:
        unknown = [name for name in names if name not in classes]
        if unknown:
            raise DataError(f"{folder / unknown[0]}: class {unknown[0]!r} is not among the training classes")
    index = {name: i for i, name in enumerate(classes if classes is not None else names)}
    files: list[Path] = []
    labels: list[int] = []
    stats: list[tuple[int, int]] = []
    for name, path in folders:
        images = list_images(path, skip)
        if not images:
            raise DataError(f"{path}: class folder without images ({', '.join(EXTENSIONS)})")
        files += [file for file, _ in images]
        stats += [stat for _, stat in images]
        labels += [index[name]] * len(images)
    return names if classes is None else classes, Listing(folder, files, labels, stats)


def split_by_fraction(listing: Listing, fraction: float, seed: int) -> tuple[Listing, Listing]:
    """(train, test): from each class a seeded `fraction` (at least one image, if it has two) is held out."""
    labels = np.asarray(listing.labels)
    rng = np.random.default_rng(seed)
    test: list[int] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = round(fraction * len(members)) if len(members) > 1 else 0
        count = min(max(count, 1 if len(members) > 1 else 0), len(members) - 1)
        test += rng.permutation(members)[:count].tolist()
    held = np.zeros(len(labels), dtype=bool)
    held[test] = True
    return listing.take(np.flatnonzero(~held)), listing.take(np.flatnonzero(held))


def locate(config: FolderData, options: DataOptions) -> Path:
    given = options.data_dir or config.root
    if given is None:
        raise DataError("data.root: a folder dataset needs its root folder (in the recipe, or --data-dir)")
    root = expand(given)
    if not root.exists():
        raise DataError(f"{root}: no such folder (the folder dataset's root)")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (the folder dataset's root)")
    return root


def listings(config: FolderData, root: Path, skip: list[str] | None) -> tuple[list[str], Listing, Listing]:
    """(classes, train, test) of the folder, whichever layout it has."""
    train_dir = root / "train"
    test_dir = next((root / name for name in TEST_FOLDERS if (root / name).is_dir()), None)
    if train_dir.is_dir():
        classes, train = list_split(train_dir, None, skip)
        if test_dir is not None:
            return classes, train, list_split(test_dir, classes, skip)[1]
        return classes, *split_by_fraction(train, config.val_fraction, config.split_seed)
    classes, whole = list_split(root, None, skip)
    return classes, *split_by_fraction(whole, config.val_fraction, config.split_seed)


def memory_limit(config: FolderData) -> int:
    if config.memory_limit is not None:
        return config.memory_limit
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError):
        return 4 << 30


def load(config: FolderData, request: Request) -> Dataset:
    """`kind: folder`: listed and checked against the spec, then decoded (or cached, or streamed)."""
    options, target, log = request.options, request.target, request.log
    if target is None:
        raise DataError("a folder dataset is decoded to a spec's input size and channels: give Request(target=...)")
    root = locate(config, options)
    skipped: list[str] | None = [] if config.skip_unreadable else None
    classes, train_list, test_list = listings(config, root, skipped)
    check_target(len(classes), None, target, f"folder {root}", converts=True)
    channels, size = target.channels, target.size
    train_list = train_list.take(subset(len(train_list.files), options.max_train))
    test_list = test_list.take(subset(len(test_list.files), options.max_test))
    parts = [("test", test_list)] + ([("train", train_list)] if request.train else [])
    needed = sum(len(listing.files) for _, listing in parts) * channels * size[0] * size[1]
    workers = config.workers
    if needed > memory_limit(config):
        log(
            f"data: {needed:,} bytes of decoded images exceed the memory limit of {memory_limit(config):,}; "
            "streaming from the files every epoch"
        )
        splits: dict[str, Split | FileSplit] = {
            name: FileSplit(
                tuple(listing.files),
                np.asarray(listing.labels, dtype=np.int64),
                size,
                channels,
                config.skip_unreadable,
                workers if workers is not None else default_workers(len(listing.files)) or 2,
            )
            for name, listing in parts
        }
        native = None
    else:
        splits, native = {}, None
        for name, listing in parts:
            splits[name], sizes = _decoded(listing, name, size, channels, workers, request, skipped)
            native = sizes if name == "train" or native is None else native
    return Dataset(
        "folder",
        tuple(classes),
        channels,
        native,
        splits.get("train"),
        splits["test"],
        root,
        mean=tuple(config.mean) if config.mean else None,
        std=tuple(config.std) if config.std else None,
        skipped=tuple(skipped or ()),
    )


def _decoded(
    listing: Listing,
    name: str,
    size: tuple[int, int],
    channels: int,
    workers: int | None,
    request: Request,
    skipped: list[str] | None,
) -> tuple[Split, tuple[int, int] | None]:
    """One split through the decode cache: (split, its images' native size if they share one)."""
    log = request.log
    key = cache.cache_key(listing.files, listing.stats, size, channels)
    entry = cache.lookup(key)
    if entry is None:
        with cache.decoding(key, log):
            entry = cache.lookup(key)  # decoded meanwhile by the process that held the lock
            if entry is None:
                entry = _decode(listing, name, key, size, channels, workers, request)
    labels = np.asarray(listing.labels, dtype=np.int64)
    images = entry.images
    if entry.errors:
        if skipped is None:
            hint = "set data.skip_unreadable: true to skip unreadable files"
            problems = [Problem(text, str(listing.files[index]), text=text) for index, text in entry.errors]
            problems[-1] = Problem(f"{problems[-1].message}; {hint}", problems[-1].file, text=problems[-1].text)
            raise DataError(f"{entry.errors[0][1]}{and_more(len(entry.errors))}; {hint}", problems)
        bad = [index for index, _ in entry.errors]
        skipped += [text for _, text in entry.errors]
        images, labels = np.delete(images, bad, axis=0), np.delete(labels, bad)
    return Split(images, labels), entry.native_size


def _decode(
    listing: Listing, name: str, key: str, size: tuple[int, int], channels: int, workers: int | None, request: Request
) -> cache.Entry:
    """Decode one split into the cache (the caller holds its lock), saying how long it took."""
    log = request.log
    count = len(listing.files)
    processes = workers if workers is not None else default_workers(count)
    how = f"{processes} processes" if processes else "this process"
    log(f"data: decoding {count:,} images of {listing.folder} with {how} (once: later runs read the cache)")
    began = time.perf_counter()
    entry = cache.build(key, listing.files, size, channels, processes, f"decode {name}", request.quiet)
    seconds = time.perf_counter() - began
    unreadable = f", {counted(len(entry.errors), 'unreadable file')}" if entry.errors else ""
    rate = count / max(seconds, 1e-9)
    log(f"data: decoded {count:,} images in {seconds:.1f} s ({rate:,.0f} images/s){unreadable}")
    if entry.evicted:
        log(
            f"data: removed {counted(entry.evicted, 'older decode-cache entry', 'older decode-cache entries')} "
            f"to stay within ${cache.LIMIT_ENV} ({cache.cache_limit() / 2**30:g} GiB)"
        )
    return entry
