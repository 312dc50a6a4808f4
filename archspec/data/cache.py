"""The decode cache: image files decoded once into a memory-mapped uint8 `.npy`, reused by later epochs and runs.

An entry is keyed by the SHA-256 of every file's path, size and modification time plus the decode size and
channel count, so editing, adding or removing one image makes a new entry; nothing is ever served stale.
It is two files under `$ARCHSPEC_CACHE/decoded` (default ~/.cache/archspec/decoded):

    <key>.json   count, shape, the native sizes seen, and the files that could not be decoded
    <key>.npy    (N, C, H, W) uint8, row i decoded from file i (zeros where a file was unreadable)

The array is decoded into a temporary file that is allocated in full first (a full disk is a one-line
error, not a crash inside the memory map), then renamed into place after its `.json`: a killed decode
leaves no entry that looks complete.

The cache is bounded: after each new entry, the least recently used others (a hit counts as a use) are
removed until all entries fit in $ARCHSPEC_CACHE_GB gibibytes (default 20; the new entry stays even if it
alone is larger), and so are the temporary files of decodes whose process is gone.

One process decodes an entry at a time (`decoding`: a file lock per key beside it), so the ranks of a torchrun
job on one machine decode once and all read that one memory-mapped copy, which the kernel holds once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archspec.config.files import creation_mode, write_atomic
from archspec.data.base import cache_root
from archspec.data.images import decode_into
from archspec.errors import DataError

FORMAT = 2  # 2: images turned upright by their EXIF orientation
LIMIT_ENV = "ARCHSPEC_CACHE_GB"
DEFAULT_LIMIT_GB = 20.0
MAX_LIMIT_GB = 1e9  # past any disk; a larger number would overflow when made bytes


@dataclass(frozen=True)
class Entry:
    images: np.ndarray  # memory-mapped copy-on-write: writable in memory, never written back
    errors: tuple[tuple[int, str], ...]
    sizes: Counter[tuple[int, int]]
    hit: bool  # found in the cache rather than decoded now
    evicted: int = 0  # older entries removed to keep the cache within its limit

    @property
    def native_size(self) -> tuple[int, int] | None:
        return next(iter(self.sizes)) if len(self.sizes) == 1 else None


def cache_folder() -> Path:
    return cache_root() / "decoded"


def cache_key(files: Sequence[Path], stats: Sequence[tuple[int, int]], size: tuple[int, int], channels: int) -> str:
    """SHA-256 of the decode settings and each file's (path, size in bytes, mtime in ns)."""
    digest = hashlib.sha256(f"archspec-decode/{FORMAT} {size[0]}x{size[1]}x{channels}\n".encode())
    for path, (nbytes, mtime) in zip(files, stats, strict=True):
        digest.update(f"{path}\0{nbytes}\0{mtime}\n".encode(errors="surrogateescape"))
    return digest.hexdigest()


def lookup(key: str) -> Entry | None:
    folder = cache_folder()
    meta_path, array_path = folder / f"{key}.json", folder / f"{key}.npy"
    if not (meta_path.is_file() and array_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        images = np.load(array_path, mmap_mode="c")
        if meta.get("format") != FORMAT or list(images.shape) != meta["shape"] or images.dtype != np.uint8:
            return None
        errors = tuple((int(index), str(text)) for index, text in meta["errors"])
        sizes = Counter({(int(h), int(w)): int(n) for h, w, n in meta["sizes"]})
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged entry (or one evicted meanwhile) is decoded afresh
    with contextlib.suppress(OSError):
        os.utime(meta_path)  # a use: the least recently used entries go first
    return Entry(images, errors, sizes, hit=True)


@contextlib.contextmanager
def decoding(key: str, log: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock that makes one process on this machine decode `key` while the others wait for it (the ranks
    of a torchrun job on one node, or two runs started together): look the entry up again inside it."""
    folder = cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f".{key}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise DataError(f"{folder}: cannot create the decode cache ({err.strerror or err})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("data: another process is decoding these images; waiting for it to finish (then reading its cache)")
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel however the holder ends
        yield
    finally:
        os.close(fd)


def build(
    key: str,
    files: Sequence[Path],
    size: tuple[int, int],
    channels: int,
    workers: int,
    label: str,
    quiet: bool,
) -> Entry:
    """Decode `files` into a new entry (replacing any damaged one of the same key), then keep the cache within
    its limit."""
    limit = cache_limit()  # a bad $ARCHSPEC_CACHE_GB is an error before any decoding
    folder = cache_folder()
    shape = (len(files), channels, *size)
    temp = folder / f".{key}.{os.getpid()}.tmp.npy"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        array = np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8, shape=shape)
        del array
        if hasattr(os, "posix_fallocate"):  # reserve the blocks now: ENOSPC here, not SIGBUS mid-decode
            with temp.open("r+b") as handle:
                os.posix_fallocate(handle.fileno(), 0, temp.stat().st_size)
        os.chmod(temp, creation_mode(folder / f"{key}.npy"))
    except OSError as err:
        temp.unlink(missing_ok=True)
        raise DataError(
            f"{folder}: cannot create the decode cache ({err.strerror or err}) for {np.prod(shape):,} bytes; "
            "free some space or point $ARCHSPEC_CACHE elsewhere"
        ) from None
    try:
        found = decode_into(files, temp, size, channels, workers, label, quiet)
        meta = {
            "format": FORMAT,
            "shape": list(shape),
            "errors": sorted(found.errors),
            "sizes": [[h, w, n] for (h, w), n in sorted(found.sizes.items())],
        }
        write_atomic(folder / f"{key}.json", json.dumps(meta).encode(), DataError)
        os.replace(temp, folder / f"{key}.npy")
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    images = np.load(folder / f"{key}.npy", mmap_mode="c")
    evicted = evict(key, limit)
    return Entry(images, tuple(sorted(found.errors)), found.sizes, hit=False, evicted=len(evicted))


def cache_limit() -> int:
    """Bytes the decode cache may hold: $ARCHSPEC_CACHE_GB gibibytes (default 20)."""
    text = os.environ.get(LIMIT_ENV)
    if text is None:
        return int(DEFAULT_LIMIT_GB * 2**30)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_LIMIT_GB):
        raise DataError(
            f"${LIMIT_ENV}={text[:40]!r}: expected the decode cache's size limit in GiB, a number above 0 "
            f"and at most {MAX_LIMIT_GB:,.0f}"
        )
    return int(value * 2**30)


def evict(keep: str, limit: int) -> list[str]:
    """Remove the least recently used entries but `keep` until the rest fit in `limit` bytes, and the temporary
    files of decodes whose process no longer runs; the keys removed. Another process still reading a removed
    entry keeps its memory map (the file goes when the last map does); one about to open it finds no entry and
    decodes afresh."""
    folder = cache_folder()
    for temp in folder.glob(".*.tmp.npy"):  # .<key>.<pid>.tmp.npy
        pid = temp.name.split(".")[2]
        if pid.isdigit() and not _running(int(pid)):
            temp.unlink(missing_ok=True)
    entries = []
    for meta in folder.glob("*.json"):
        array = meta.with_suffix(".npy")
        try:
            stat = meta.stat()
            size = stat.st_size + (array.stat().st_size if array.exists() else 0)
        except OSError:
            continue
        entries.append((stat.st_mtime, meta.stem, size))
    total = sum(size for _, _, size in entries)
    removed = []
    for _, key, size in sorted(entries):  # oldest use first
        if total <= limit:
            break
        if key == keep:
            continue
        (folder / f"{key}.npy").unlink(missing_ok=True)  # the array first: a lone .json is no entry
        (folder / f"{key}.json").unlink(missing_ok=True)
        (folder / f".{key}.lock").unlink(missing_ok=True)
        total -= size
        removed.append(key)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
