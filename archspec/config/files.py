"""Reading files with a bound, and writing them atomically: the one place either is done."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from archspec.config.text import clip
from archspec.errors import ArchspecError


def read_bounded(path: Path, limit: int, error: type[ArchspecError], what: str) -> bytes:
    """At most `limit` bytes of a regular file; `error` naming the file for anything else.

    Opened without blocking and checked before reading: a FIFO, socket or folder is refused at once (a FIFO
    would wait for a writer forever); a character device such as /dev/zero is read only up to the limit.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        raise error(f"{clip(str(path), 300)}: cannot read: {err.strerror or err}") from None
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise error(f"{clip(str(path), 300)}: {kind}; expected a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:  # read at most one byte past the limit: a device ends too
            data = handle.read(limit + 1)
        except OSError as err:
            raise error(f"{clip(str(path), 300)}: cannot read: {err.strerror or err}") from None
    if data is None:  # a non-blocking device with nothing to read (a terminal)
        raise error(f"{clip(str(path), 300)}: cannot read: nothing to read without waiting")
    if len(data) > limit:
        raise error(f"{path}: file is over {limit:,} bytes, the limit for {what}")
    return data


def creation_mode(path: Path) -> int:
    """The permission bits `open(path, "w")` would leave: an existing file keeps its own, a new one gets 0o666
    less the umask. mkstemp creates its files 0o600, so whatever renames one into place applies this first."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mask = os.umask(0)  # the only portable way to read the umask is to set it
        os.umask(mask)
        return 0o666 & ~mask


def write_atomic(path: Path, data: bytes, error: type[ArchspecError] = ArchspecError) -> None:
    """Write to a temporary file in the same folder, then rename: readers see the old file or the new one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, creation_mode(path))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise error(f"{path}: cannot write: {err.strerror or err}") from None
