"""The decode cache stays within $ARCHSPEC_CACHE_GB: least recently used entries go first, the new one stays,
and the full-size temporary files of killed decodes are cleaned up."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archspec.data import cache
from archspec.errors import DataError


def images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"{index}.png"
        Image.fromarray(np.full((8, 8), index * 20, dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def entry(files: list[Path]) -> cache.Entry:
    key = cache.cache_key(files, [(f.stat().st_size, f.stat().st_mtime_ns) for f in files], (8, 8), 1)
    return cache.lookup(key) or cache.build(key, files, (8, 8), 1, 0, "decode", True)


def test_the_least_recently_used_entries_go_first_and_the_new_one_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = (images(tmp_path / name, 3) for name in "abc")
    first, second = entry(a), entry(b)
    assert not first.hit and not second.hit and second.evicted == 0  # 20 GiB by default: both stay
    time.sleep(0.01)
    assert entry(a).hit  # a hit is a use: now b's entry is the older one
    both = sum(p.stat().st_size for p in cache.cache_folder().iterdir() if not p.name.startswith("."))
    monkeypatch.setenv(cache.LIMIT_ENV, str(both / 2 / 2**30 * 1.01))  # room for about one entry
    third = entry(c)
    assert third.evicted == 2  # b's entry, then a's
    assert entry(c).hit  # the new entry stayed
    monkeypatch.setenv(cache.LIMIT_ENV, "20")
    assert not entry(a).hit and not entry(b).hit  # both went


def test_only_what_does_not_fit_goes_and_in_order_of_last_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = (images(tmp_path / name, 3) for name in "abc")
    entry(a)
    time.sleep(0.01)
    entry(b)
    time.sleep(0.01)
    assert entry(a).hit  # a used last, b before it
    both = sum(p.stat().st_size for p in cache.cache_folder().iterdir() if not p.name.startswith("."))
    monkeypatch.setenv(cache.LIMIT_ENV, str(both / 2 * 2.01 / 2**30))  # room for two entries
    assert entry(c).evicted == 1
    assert entry(a).hit and entry(c).hit  # b went: the least recently used


def test_a_killed_decodes_temporary_file_is_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    folder = cache.cache_folder()
    folder.mkdir(parents=True)
    stale, live = folder / f".abc.{gone.pid}.tmp.npy", folder / f".abc.{os.getpid()}.tmp.npy"
    stale.write_bytes(b"x" * 100)
    live.write_bytes(b"x" * 100)
    entry(images(tmp_path / "a", 2))
    assert not stale.exists() and live.exists()  # this process's decode is still running


@pytest.mark.parametrize("value", ["0", "-1", "lots", "nan", "inf", "1e300"])
def test_a_bad_limit_is_one_line_before_any_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(cache.LIMIT_ENV, value)
    expected = rf"^\$ARCHSPEC_CACHE_GB='{value}': expected .* a number above 0 and at most 1,000,000,000$"
    with pytest.raises(DataError, match=expected):
        entry(images(tmp_path / "a", 2))
    assert not cache.cache_folder().exists() or not list(cache.cache_folder().iterdir())


def test_processes_asking_for_one_entry_at_once_decode_it_once(tmp_path: Path) -> None:
    """The ranks of a torchrun job on one machine: whoever takes the entry's lock decodes, the others wait for
    it and read its entry. The test holds the lock first, so both readers are sure to arrive while it is held."""
    import threading

    from archspec.data import DataOptions, FolderData, Request, Target, open_dataset
    from archspec.data.folder import listings

    for label in "ab":
        images(tmp_path / "root" / label, 4)
    config = FolderData(kind="folder", root=str(tmp_path / "root"), workers=0, val_fraction=0.5)
    test = listings(config, tmp_path / "root", None)[2]
    key = cache.cache_key(test.files, test.stats, (8, 8), 1)
    logs: list[list[str]] = [[], []]
    held = [0]
    results: list[np.ndarray] = []

    def read(log: list[str]) -> None:
        def say(line: str) -> None:
            log.append(line)
            held[0] += "waiting" in line

        request = Request(DataOptions(), Target(1, 8, 8, 2), train=False, log=say)
        data = open_dataset(config, request)
        assert isinstance(data.test.images, np.ndarray)
        results.append(np.asarray(data.test.images))

    with cache.decoding(key, lambda line: None):
        readers = [threading.Thread(target=read, args=(log,)) for log in logs]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + 60
        while held[0] < 2 and time.monotonic() < deadline:  # both are waiting on the lock
            time.sleep(0.01)
        assert held[0] == 2, logs
    for reader in readers:
        reader.join(60)
    decodes = [line for log in logs for line in log if line.startswith("data: decoding")]
    assert len(decodes) == 1, logs  # one decoded, the other read its entry
    assert len(results) == 2 and np.array_equal(results[0], results[1]) and results[0].any()
