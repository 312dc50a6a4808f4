"""IDX datasets (Fashion-MNIST, MNIST): reading, search path, verified download, bad files."""

from __future__ import annotations

import gzip
import hashlib
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cli_env

from archspec.data import download
from archspec.data import idx as D
from archspec.data.idx import FILES, load_dataset, load_split, locate, read_idx
from archspec.errors import DataError


def idx_bytes(values: torch.Tensor) -> bytes:
    header = bytes([0, 0, 0x08, values.dim()]) + struct.pack(f">{values.dim()}I", *values.shape)
    return header + values.to(torch.uint8).numpy().tobytes()


def write_dataset(folder: Path, n_train: int = 20, n_test: int = 10, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), generator=generator)
        labels = torch.arange(n) % 10
        for name, values in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            raw = idx_bytes(values)
            (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)


@pytest.fixture(autouse=True)
def isolated_search_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may find (or write to) the real cache or system copies by accident."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ARCHSPEC_DATA", raising=False)
    monkeypatch.delenv("ARCHSPEC_CACHE", raising=False)  # the cache is then ~/.cache/archspec, under HOME
    monkeypatch.setattr(D, "SYSTEM_DIR", tmp_path / "system")


def test_bundled_sample_is_real_fashion_mnist() -> None:
    data = load_dataset("fashion-mnist", "sample")
    assert data.is_sample and "BUNDLED SAMPLE" in data.describe()
    assert data.train is not None
    assert data.train.images.shape == (5000, 28, 28) and data.train.images.dtype == np.uint8
    assert data.test.images.shape == (1000, 28, 28)
    # Fashion-MNIST's classes are balanced: every one of the 10 is present in roughly equal numbers.
    counts = np.bincount(data.train.labels, minlength=10)
    assert counts.min() > 400 and counts.max() < 600
    assert (D.sample_dir() / "LICENSE").read_text().count("MIT License") == 1


def test_raw_and_gzip_files_read_the_same(tmp_path: Path) -> None:
    write_dataset(tmp_path / "gz", gz=True)
    write_dataset(tmp_path / "raw", gz=False)
    a, b = load_split(tmp_path / "gz", "train"), load_split(tmp_path / "raw", "train")
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert a.labels.dtype == np.int64


def test_explicit_data_dir_wins_and_head_cuts(tmp_path: Path) -> None:
    write_dataset(tmp_path / "mine", n_train=30)
    data = load_dataset("fashion-mnist", tmp_path / "mine", max_train=12)
    assert data.train is not None
    assert len(data.train) == 12 and len(data.test) == 10 and not data.is_sample


def test_search_order_env_then_cache_then_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dataset(tmp_path / "system" / "fashion-mnist")
    assert locate("fashion-mnist") == tmp_path / "system" / "fashion-mnist"
    write_dataset(tmp_path / "home" / ".cache" / "archspec" / "fashion-mnist")
    assert locate("fashion-mnist") == tmp_path / "home" / ".cache" / "archspec" / "fashion-mnist"
    write_dataset(tmp_path / "env")
    monkeypatch.setenv("ARCHSPEC_DATA", str(tmp_path / "env"))
    assert locate("fashion-mnist") == tmp_path / "env"


def test_incomplete_explicit_folder_is_an_error_not_skipped(tmp_path: Path) -> None:
    write_dataset(tmp_path / "mine")
    (tmp_path / "mine" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"mine \(from --data-dir\): missing t10k-labels-idx1-ubyte\[\.gz\]"):
        locate("fashion-mnist", tmp_path / "mine")
    with pytest.raises(DataError, match=r"nothere \(from --data-dir\): no such folder$"):
        locate("fashion-mnist", tmp_path / "nothere")
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz \(from --data-dir\): not a folder$"):
        locate("fashion-mnist", tmp_path / "mine" / "t10k-images-idx3-ubyte.gz")


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=f"^{path}: truncated or corrupt gzip data"):
        load_split(tmp_path, "train")


def test_truncated_raw_file_names_the_file(tmp_path: Path) -> None:
    write_dataset(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match=f"^{path}: truncated: header says 20x28x28 values"):
        read_idx(path, 3)


def test_corrupt_header_and_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)  # 0x0d: float data, not unsigned bytes
    with pytest.raises(DataError, match="not an IDX file of 1-d unsigned bytes"):
        read_idx(path, 1)
    path.write_bytes(idx_bytes(torch.arange(5)) + b"junk")
    with pytest.raises(DataError, match="has trailing bytes"):
        read_idx(path, 1)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="truncated IDX file"):
        read_idx(path, 1)


def test_mismatched_counts_and_bad_labels(tmp_path: Path) -> None:
    write_dataset(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(torch.arange(19) % 10))
    with pytest.raises(DataError, match="19 labels for 20 images"):
        load_split(tmp_path, "train")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(torch.full((20,), 200)))
    with pytest.raises(DataError, match="label 200 out of range"):
        load_split(tmp_path, "train")


def serve_mirror(folder: Path) -> dict[str, str]:
    """Write a fake dataset as a download mirror; returns the SHA-256 table that matches it."""
    write_dataset(folder)
    return {name: hashlib.sha256(gzip.decompress((folder / f"{name}.gz").read_bytes())).hexdigest() for name in FILES}


def test_download_verifies_and_writes_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sums = serve_mirror(tmp_path / "mirror")
    info = D.DatasetInfo(
        "fashion-mnist", D.DATASETS["fashion-mnist"].classes, 0.0, 1.0, (tmp_path / "mirror").as_uri(), sums
    )
    monkeypatch.setitem(D.DATASETS, "fashion-mnist", info)
    folder = locate("fashion-mnist")  # nothing found anywhere: fetched over file://
    assert folder == tmp_path / "home" / ".cache" / "archspec" / "fashion-mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{name}.gz" for name in FILES)  # no temp files left
    assert len(load_split(folder, "train")) == 20


def test_download_with_wrong_checksum_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sums = serve_mirror(tmp_path / "mirror")
    sums["t10k-images-idx3-ubyte"] = "0" * 64
    info = D.DatasetInfo(
        "fashion-mnist", D.DATASETS["fashion-mnist"].classes, 0.0, 1.0, (tmp_path / "mirror").as_uri(), sums
    )
    monkeypatch.setitem(D.DATASETS, "fashion-mnist", info)
    with pytest.raises(
        DataError, match=r"t10k-images-idx3-ubyte\.gz: SHA-256 of the decompressed file is [0-9a-f]{64}, expected 0{64}"
    ):
        locate("fashion-mnist")
    cache = tmp_path / "home" / ".cache" / "archspec" / "fashion-mnist"
    assert not (cache / "t10k-images-idx3-ubyte.gz").exists()
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]


def test_offline_error_names_url_and_alternatives(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, limit: int = 0) -> bytes:
        raise DataError(f"cannot download {url}: network unreachable")

    monkeypatch.setattr(download, "fetch", offline)
    with pytest.raises(DataError) as info:
        locate("fashion-mnist")
    message = str(info.value)
    assert (
        "cannot download http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz"
        in message
    )
    assert "Looked in:" in message and "--data-dir sample" in message


def test_unknown_dataset_lists_choices() -> None:
    with pytest.raises(DataError, match="unknown dataset 'cifar'; choose from fashion-mnist, mnist"):
        D.dataset_info("cifar")


def test_sample_exists_only_for_fashion_mnist() -> None:
    with pytest.raises(DataError, match="no bundled sample of mnist"):
        locate("mnist", "sample")


def test_relabelled_idx_files_name_their_own_classes(tmp_path: Path) -> None:
    from archspec.data import IdxData, Request, Target, open_dataset

    write_dataset(tmp_path / "five")
    for prefix, n in (("train", 20), ("t10k", 10)):
        (tmp_path / "five" / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(torch.arange(n) % 5))
        )
    config = IdxData(kind="idx", root=str(tmp_path / "five"), classes=["a", "b", "c", "d", "e"])
    data = open_dataset(config, Request(target=Target(1, 28, 28, 5)), stats=True)
    assert data.classes == ("a", "b", "c", "d", "e") and data.mean is not None and data.mean != (0.2860,)
    with pytest.raises(DataError, match=r"head\.num_classes=10 but fashion-mnist \(relabelled\) has 5 classes"):
        open_dataset(config, Request(target=Target(1, 28, 28, 10)))
    three = IdxData(kind="idx", root=str(tmp_path / "five"), classes=["a", "b", "c"])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: label 4 out of range 0\.\.2"):
        open_dataset(three, Request(target=Target(1, 28, 28, 3)))


# Reads a (bomb) IDX file in a fresh process: what it was refused with, then the process's peak RSS in KiB
# (VmHWM: ru_maxrss would keep the high-water mark of the pytest process it was forked from, across exec).
PEAK_SCRIPT = """\
import sys
from archspec.data.idx import read_idx
from archspec.errors import DataError
try:
    read_idx(sys.argv[1], 3)
except DataError as err:
    print(err)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def gzip_bomb(path: Path, images: int, zeros: int) -> None:
    """An IDX header for `images` 28x28 images, then `zeros` MiB of zero bytes (a multiple of 16), gzipped at
    about 230:1. Made of one compressed 16 MiB segment repeated (a full flush resets the compressor, so each
    is the same bytes); the gzip trailer is left out, as a refused file is never read to its end."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = deflate.compress(b"\x00\x00\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (images, 28, 28)))
    segment = deflate.compress(bytes(16 << 20)) + deflate.flush(zlib.Z_FULL_FLUSH)
    path.write_bytes(head + segment * (zeros // 16))


@pytest.mark.parametrize(
    ("images", "refusal"),
    [(1_400_000, "inflates to over 1,073,741,824 bytes"),  # a header over the limit, the data too
     (1_300_000, "has trailing bytes: inflates to more than its header's 1300000x28x28 values")],
)  # fmt: skip
def test_a_gzip_bomb_is_refused_while_it_streams_with_little_memory(tmp_path: Path, images: int, refusal: str) -> None:
    path = tmp_path / "bomb-idx3-ubyte.gz"
    gzip_bomb(path, images, zeros=1104)  # 1.08 GiB inflated, from 5 MB
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path)], capture_output=True, text=True,
                          env=cli_env(), timeout=300, check=True)  # fmt: skip
    message, peak_kib = done.stdout.splitlines()
    assert refusal in message
    assert int(peak_kib) < 400 * 1024, f"peak RSS {int(peak_kib) / 1024:.0f} MiB refusing a gzip bomb"


def test_a_gzip_file_longer_than_its_header_says_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(torch.arange(5))[:8] + bytes(5) + bytes(3 << 20)))
    with pytest.raises(DataError, match="has trailing bytes: inflates to more than its header's 5 values"):
        read_idx(path, 1)
