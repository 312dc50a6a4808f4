"""CIFAR datasets (archspec.data.cifar): archives and folders, CIFAR-10 and -100, safe unpickling,
verified download, and bad archives as one-line DataErrors."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
from imagedata import NAMES, cifar_images, cifar_members, sample, write_cifar

from archspec.data import CifarData, DataOptions, Request, Split, Target, download, open_dataset
from archspec.data import cifar as C
from archspec.errors import DataError

TEN = Target(3, 32, 32, 10)


def cifar(root: Path | None, **fields: object) -> CifarData:
    return CifarData.model_validate({"kind": "cifar", "root": None if root is None else str(root), **fields})


def test_archive_and_extracted_folder_read_the_same(tmp_path: Path) -> None:
    members = cifar_members("cifar10", per_batch=40)
    archive = write_cifar(tmp_path / "cifar-10-python.tar.gz", members)
    folder = tmp_path / "extracted" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, raw in members.items():
        (folder / name).write_bytes(raw)
    a = open_dataset(cifar(archive), Request(target=TEN))
    b = open_dataset(cifar(tmp_path / "extracted"), Request(target=TEN))
    assert a.classes == NAMES and a.name == "cifar-10" and a.channels == 3 and a.native_size == (32, 32)
    assert isinstance(a.train, Split) and isinstance(b.train, Split)
    assert a.train.images.shape == (200, 3, 32, 32) and len(a.test) == 40
    assert np.array_equal(a.train.images, b.train.images) and np.array_equal(a.train.labels, b.train.labels)
    images, labels = sample("train")
    assert np.array_equal(a.train.images.reshape(200, -1), cifar_images(images[:200]))
    assert np.array_equal(a.train.labels, labels[:200])


def test_cifar100_fine_and_coarse_labels_and_detection(tmp_path: Path) -> None:
    archive = write_cifar(tmp_path / "c100.tar.gz", cifar_members("cifar100", bytes_keys=False), "cifar-100-python")
    fine = open_dataset(cifar(archive), Request(target=TEN))
    coarse = open_dataset(cifar(archive, labels="coarse"), Request(target=Target(3, 32, 32, 2)))
    assert fine.name == "cifar-100 (fine labels)" and fine.classes[0] == "fine-0"
    assert coarse.classes == ("even", "odd") and isinstance(coarse.train, Split) and isinstance(fine.train, Split)
    assert np.array_equal(coarse.train.labels, fine.train.labels % 2)
    with pytest.raises(DataError, match=r"no batches\.meta member, so not the cifar10 python version archive"):
        open_dataset(cifar(archive, variant="cifar10"), Request(target=TEN))


def test_max_options_and_test_split_only(tmp_path: Path) -> None:
    archive = write_cifar(tmp_path / "c.tar.gz", cifar_members())
    data = open_dataset(cifar(archive), Request(DataOptions(None, 50, 10), TEN, train=False))
    assert data.train is None and len(data.test) == 10 and "test" in data.describe()
    assert " train" not in data.describe()


def test_mean_and_std_come_from_the_training_split(tmp_path: Path) -> None:
    archive = write_cifar(tmp_path / "c.tar.gz", cifar_members())
    data = open_dataset(cifar(archive), Request(target=TEN), stats=True)
    assert data.mean is not None and data.std is not None and len(data.mean) == 3
    assert isinstance(data.train, Split)
    pixels = data.train.images.astype(np.float64) / 255
    assert data.mean == pytest.approx(pixels.mean(axis=(0, 2, 3)), abs=1e-5)
    assert data.std == pytest.approx(pixels.std(axis=(0, 2, 3)), abs=1e-5)
    # the one data line says the statistics, after what the data is (they were a line of their own, before it)
    assert data.describe().endswith(
        f"mean [{data.mean[0]:.4f}, {data.mean[1]:.4f}, {data.mean[2]:.4f}], std "
        f"[{data.std[0]:.4f}, {data.std[1]:.4f}, {data.std[2]:.4f}] (from the training split)"
    )


def _without(name: str) -> dict[str, bytes]:
    members = cifar_members()
    del members[name]
    return members


def _resized(name: str) -> dict[str, bytes]:
    members = cifar_members()
    members[name] = pickle.dumps({b"data": np.zeros((10, 3000), np.uint8), b"labels": [0] * 10}, protocol=2)
    return members


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


BAD = {
    "missing member": (_without("data_batch_3"), "no data_batch_3 member; not a complete cifar-10"),
    "no meta": (_without("batches.meta"), "not a CIFAR python archive: it has no batches.meta"),
    "wrong array size": (_resized("data_batch_2"), r"data_batch_2: data is 10x3000 uint8, expected N x 3072"),
    "code in a pickle": ({**cifar_members(), "test_batch": pickle.dumps({"data": Evil()})}, "refusing to load"),
    "labels out of range": (
        {**cifar_members(), "test_batch": pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [3, 10]})},
        r"test_batch: label 10 out of range 0\.\.9",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_archives_are_one_line_errors_naming_the_file(tmp_path: Path, case: str) -> None:
    members, fragment = BAD[case]
    archive = write_cifar(tmp_path / "bad.tar.gz", members)
    with pytest.raises(DataError, match=fragment) as info:
        open_dataset(cifar(archive), Request(target=TEN))
    assert str(info.value).startswith(str(archive)) and "\n" not in str(info.value)


def test_not_an_archive_and_missing_path(tmp_path: Path) -> None:
    junk = tmp_path / "cifar.tar.gz"
    junk.write_bytes(b"\x1f\x8b" + b"\x00" * 64)
    with pytest.raises(DataError, match=f"^{junk}: not a readable .tar.gz archive"):
        open_dataset(cifar(junk), Request(target=TEN))
    with pytest.raises(DataError, match="no such CIFAR archive or folder"):
        open_dataset(cifar(tmp_path / "nope.tar.gz"), Request(target=TEN))


def test_class_count_mismatch_names_the_fix(tmp_path: Path) -> None:
    archive = write_cifar(tmp_path / "c.tar.gz", cifar_members())
    with pytest.raises(
        DataError, match=r"head\.num_classes=200 but cifar-10 has 10 classes; use --set head\.num_classes=10"
    ):
        open_dataset(cifar(archive), Request(target=Target(3, 32, 32, 200)))
    with pytest.raises(DataError, match=r"takes 1 input channels but cifar-10 has 3; use --set input\.channels=3"):
        open_dataset(cifar(archive), Request(target=Target(1, 32, 32, 10)))


def test_download_is_verified_and_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = write_cifar(tmp_path / "mirror.tar.gz", cifar_members())
    digest = hashlib.sha256(mirror.read_bytes()).hexdigest()
    layout = C.LAYOUTS["cifar10"]
    monkeypatch.setitem(C.LAYOUTS, "cifar10", C.Layout(**{**layout.__dict__, "url": mirror.as_uri(), "sha256": digest}))
    monkeypatch.setenv("ARCHSPEC_CACHE", str(tmp_path / "cache"))
    data = open_dataset(cifar(None), Request(target=TEN))
    assert data.source == tmp_path / "cache" / "cifar-10-python.tar.gz" and len(data.test) == 40
    monkeypatch.setitem(
        C.LAYOUTS, "cifar10", C.Layout(**{**layout.__dict__, "url": mirror.as_uri(), "sha256": "0" * 64})
    )
    monkeypatch.setenv("ARCHSPEC_CACHE", str(tmp_path / "other"))
    with pytest.raises(DataError, match=r"SHA-256 of the file is [0-9a-f]{64}, expected 0{64}"):
        open_dataset(cifar(None), Request(target=TEN))
    assert not (tmp_path / "other").exists() or not list((tmp_path / "other").iterdir())


def test_offline_download_says_where_to_put_the_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, limit: int = 0) -> bytes:
        raise DataError(f"cannot download {url}: network unreachable")

    monkeypatch.setattr(download, "fetch", offline)
    with pytest.raises(DataError, match=r"cannot download https://www\.cs\.toronto\.edu/.*; put cifar-10-python"):
        open_dataset(cifar(None), Request(target=TEN))
