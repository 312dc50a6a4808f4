"""Reading files with a bound, and writing them atomically: the one place either is done."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from archspec.errors import ArchspecError


def read_bounded(path: Path, limit: int, error: type[ArchspecError], what: str) -> bytes:
    """At most `limit` bytes of a regular file; `error` naming the file for anything else (a FIFO, /dev/zero)."""
    try:
        with path.open("rb") as handle:  # read at most one byte past the limit: a device or pipe ends too
            data = handle.read(limit + 1)
    except OSError as err:
        raise error(f"{path}: cannot read: {err.strerror or err}") from None
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
