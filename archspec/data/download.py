"""Downloads of public datasets: bounded, checked by SHA-256, written atomically. Used by idx and cifar."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from archspec.config.files import write_atomic
from archspec.errors import DataError

MAX_DOWNLOAD_BYTES = 1 << 30


def fetch(url: str, limit: int = MAX_DOWNLOAD_BYTES) -> bytes:
    """The bytes at `url` (http(s) or file://), at most `limit`. Module-level so that tests can replace it."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data: bytes = response.read(limit + 1)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(f"cannot download {url}: {reason}") from None
    if len(data) > limit:
        raise DataError(f"{url}: more than {limit:,} bytes; not the dataset file expected")
    return data


def check_sha256(data: bytes, expected: str, source: str, what: str = "file") -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise DataError(f"{source}: SHA-256 of the {what} is {digest}, expected {expected}")


def download_verified(url: str, sha256: str, target: Path) -> Path:
    """Fetch `url`, check its SHA-256, then write it to `target` atomically (nothing is written on a mismatch)."""
    data = fetch(url)
    check_sha256(data, sha256, url)
    write_atomic(target, data, DataError)
    return target
