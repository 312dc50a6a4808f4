"""Folder datasets (archspec.data.folder): layouts, Pillow decoding, the decode cache, streaming, and
every bad input of issue 10 as a one-line DataError naming the file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from imagedata import NAMES, sample, to_rgb, write_folder
from PIL import Image

from archspec.data import FileSplit, FolderData, Request, Split, Target, open_dataset
from archspec.data import folder as F
from archspec.data import images as I
from archspec.data.batches import StreamSplit, TensorSplit, on_device
from archspec.errors import DataError

GRAY = Target(1, 28, 28, 7)
RGB = Target(3, 28, 28, 7)


def folder(root: Path, **fields: object) -> FolderData:
    return FolderData.model_validate({"kind": "folder", "root": str(root), **fields})


def load(root: Path, target: Target | None = RGB, **fields: object):  # type: ignore[no-untyped-def]
    return open_dataset(folder(root, **fields), Request(target=target))


@pytest.fixture
def pets(tmp_path: Path) -> Path:
    """root/train/<7 classes>/ (20 each, PNG and JPEG, RGB and gray mixed) and root/val/<7 classes>/ (5 each)."""
    write_folder(tmp_path / "pets" / "train", per_class=20, jpeg_every=4, gray_every=3)
    write_folder(tmp_path / "pets" / "val", per_class=5, split="test")
    return tmp_path / "pets"


def test_train_val_layout_classes_and_decoded_pixels(pets: Path) -> None:
    data = load(pets)
    assert data.classes == tuple(sorted(NAMES[:7])) and data.num_classes == 7 and data.channels == 3
    assert isinstance(data.train, Split) and isinstance(data.test, Split)
    assert data.train.images.shape == (140, 3, 28, 28) and data.train.images.dtype == np.uint8
    assert len(data.test) == 35 and data.native_size == (28, 28)
    # a lossless RGB PNG comes back exactly, in (C, H, W)
    images, labels = sample("train")
    first = data.classes[0]
    index = int(sorted((pets / "train" / first).iterdir())[1].stem)  # file 1: RGB PNG (0 is gray, 3 a JPEG)
    row = int(np.flatnonzero(data.train.labels == 0)[1])
    assert np.array_equal(data.train.images[row], to_rgb(images[index]).transpose(2, 0, 1))
    assert NAMES[int(labels[index])] == first
    # gray files in an RGB dataset become three equal channels; JPEGs decode within JPEG's error
    gray_row = int(np.flatnonzero(data.train.labels == 0)[0])
    assert np.array_equal(data.train.images[gray_row][0], data.train.images[gray_row][2])


def test_one_channel_spec_converts_rgb_to_gray(pets: Path) -> None:
    data = load(pets, GRAY)
    assert isinstance(data.train, Split) and data.train.images.shape == (140, 1, 28, 28) and data.channels == 1


def test_resize_follows_the_spec(pets: Path) -> None:
    data = load(pets, Target(3, 40, 36, 7))
    assert isinstance(data.test, Split) and data.test.images.shape[1:] == (3, 40, 36)
    assert data.native_size == (28, 28)


def test_one_root_is_split_by_a_seeded_fraction(tmp_path: Path) -> None:
    write_folder(tmp_path / "flat", per_class=20)
    a, b = load(tmp_path / "flat", val_fraction=0.25), load(tmp_path / "flat", val_fraction=0.25)
    assert isinstance(a.test, Split) and isinstance(a.train, Split) and isinstance(b.test, Split)
    assert len(a.test) == 35 and len(a.train) == 105  # 5 of each class's 20 held out
    assert np.bincount(a.test.labels).tolist() == [5] * 7
    assert np.array_equal(a.test.images, b.test.images)  # the same split every time
    c = load(tmp_path / "flat", val_fraction=0.25, split_seed=1)
    assert isinstance(c.test, Split) and not np.array_equal(a.test.images, c.test.images)


def test_cache_is_reused_and_invalidated_by_a_changed_file(pets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load(pets)
    lines: list[str] = []

    def no_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded again although the cache holds these files")

    monkeypatch.setattr(F.cache, "build", no_decode)
    again = open_dataset(folder(pets), Request(target=RGB, log=lines.append))
    assert isinstance(first.train, Split) and isinstance(again.train, Split)
    assert np.array_equal(first.train.images, again.train.images) and not lines  # no "decoding" line
    monkeypatch.undo()
    victim = sorted((pets / "val" / NAMES[0]).iterdir())[0]
    os.utime(victim, ns=(0, 10**9))  # same bytes, another mtime: a new key
    lines.clear()
    open_dataset(folder(pets), Request(target=RGB, log=lines.append))
    assert any("decoding 35 images" in line for line in lines), lines


def test_cache_files_get_the_umask_mode(pets: Path, private_cache: Path) -> None:
    previous = os.umask(0o022)
    try:
        load(pets)
    finally:
        os.umask(previous)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (private_cache / "decoded").iterdir()}
    assert modes == {0o644}


def test_worker_processes_decode_the_same_as_one_process(pets: Path) -> None:
    one, two = load(pets, workers=0), load(pets, Target(3, 28, 28, 7, "again"), workers=2)
    assert isinstance(one.train, Split) and isinstance(two.train, Split)
    assert np.array_equal(one.train.images, two.train.images)


def test_listing_is_one_scandir_per_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One directory scan per folder, never a scan or glob per file: the count of scans does not grow with the
    files (benchmarks/data_pipeline.py lists 70,000 real files; 20,000 empty files here cost 1-15 s of disk)."""
    root = tmp_path / "many"
    for label in range(4):
        (root / f"c{label}").mkdir(parents=True)
        for n in range(250):
            (root / f"c{label}" / f"{n}.png").touch()
    calls: list[str] = []
    real = os.scandir

    def counting(path: str | Path) -> object:
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(F.os, "scandir", counting)
    classes, listing = F.list_split(root, None, None)
    assert classes == ["c0", "c1", "c2", "c3"] and len(listing.files) == 1000
    assert len(calls) == 5  # the root, then each class folder once
    assert listing.files == sorted(listing.files, key=lambda p: (p.parent.name, str(p)))


def test_streaming_yields_exactly_the_cached_batches(pets: Path) -> None:
    cached = load(pets)
    streamed = load(pets, memory_limit=1000, workers=0)
    assert isinstance(streamed.train, FileSplit) and isinstance(cached.train, Split)
    order = torch.randperm(len(cached.train), generator=torch.Generator().manual_seed(3))
    memory = on_device(cached.train, torch.device("cpu"))
    stream = on_device(streamed.train, torch.device("cpu"))
    assert isinstance(memory, TensorSplit) and isinstance(stream, StreamSplit)
    for (a, la), (b, lb) in zip(memory.batches(order, 32), stream.batches(order, 32), strict=True):
        assert torch.equal(a, b) and torch.equal(la, lb)


def test_streaming_with_workers_and_an_unreadable_file(pets: Path) -> None:
    (pets / "train" / NAMES[2] / "zz.png").write_text("not a png")
    streamed = load(pets, memory_limit=1000, workers=2)
    assert isinstance(streamed.train, FileSplit)
    stream = on_device(streamed.train, torch.device("cpu"))
    with pytest.raises(DataError, match=r"zz\.png: not an image Pillow can read.*skip_unreadable"):
        for _ in stream.batches(torch.arange(len(stream)), 64):
            pass
    skipping = on_device(load(pets, memory_limit=1000, workers=2, skip_unreadable=True).train, torch.device("cpu"))
    seen = sum(int(labels.numel()) for _, labels in skipping.batches(torch.arange(len(skipping)), 64))
    assert seen == 140 and isinstance(skipping, StreamSplit) and len(skipping.skipped) == 1


# --- bad input ----------------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _jpeg(path: Path) -> None:
    images, _ = sample("train")
    jpeg = path.with_suffix(".jpg")
    Image.fromarray(images[0]).save(jpeg, quality=90)
    _truncate(jpeg)


BAD_FILES = {
    "truncated PNG": (lambda p: _truncate(p), "truncated image file"),
    "truncated JPEG": (_jpeg, "truncated image file"),
    "text named .png": (lambda p: p.write_text("hello, I am not a PNG\n"), "not an image Pillow can read"),
    "0-byte file": (lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
    "symlink to itself": (lambda p: (p.unlink(), p.symlink_to(p.name)), "symlink loop"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_file_is_one_line_naming_it_or_skipped_and_counted(pets: Path, case: str) -> None:
    damage, reason = BAD_FILES[case]
    victim = sorted((pets / "train" / NAMES[4]).glob("*.png"))[2]
    damage(victim)
    named = victim.with_suffix(".jpg") if case == "truncated JPEG" else victim
    with pytest.raises(DataError) as info:
        load(pets)
    message = str(info.value)
    assert message.startswith(f"{named}: ") and reason in message and "\n" not in message, message
    data = load(pets, skip_unreadable=True)
    assert data.train is not None and len(data.train) == 140 - (case != "truncated JPEG")
    assert len(data.skipped) == 1 and str(named) in data.skipped[0] and "1 unreadable file skipped" in data.describe()


def test_bad_layouts(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"^{tmp_path / 'nowhere'}: no such folder"):
        load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no classes here")
    with pytest.raises(DataError, match=f"^{tmp_path / 'empty'}: no class folders"):
        load(tmp_path / "empty")
    write_folder(tmp_path / "some", classes=7, per_class=3)
    (tmp_path / "some" / "zebra").mkdir()
    (tmp_path / "some" / "zebra" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=f"^{tmp_path / 'some' / 'zebra'}: class folder without images"):
        load(tmp_path / "some", Target(3, 28, 28, 8))
    with pytest.raises(DataError, match=r"data\.root: a folder dataset needs its root folder"):
        open_dataset(FolderData(kind="folder"), Request(target=RGB))


def test_a_folder_symlink_loop_is_named(pets: Path) -> None:
    loop = pets / "train" / NAMES[1] / "again"
    loop.symlink_to(pets / "train")
    with pytest.raises(DataError, match=f"^{loop}/.*symlink loop|^{loop}: symlink loop"):
        load(pets)


def test_val_class_unknown_to_training_is_refused(pets: Path) -> None:
    write_folder(pets / "val", classes=8, per_class=2, split="test")
    with pytest.raises(DataError, match=f"^{pets / 'val' / NAMES[7]}: class '{NAMES[7]}' is not among"):
        load(pets)


def test_class_and_channel_counts_are_checked_before_decoding(pets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(F.cache, "build", lambda *a, **k: pytest.fail("decoded before the check"))
    with pytest.raises(DataError, match=r"has head\.num_classes=10 but folder .* has 7 classes; use --set head\.num"):
        load(pets, Target(3, 28, 28, 10))
    with pytest.raises(DataError, match=r"takes 2 input channels; images convert to 1 \(grayscale\) or 3"):
        load(pets, Target(2, 28, 28, 7))


def test_decode_image_reports_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("L", (8000, 7000)).save(path)
    with pytest.raises(DataError, match=r"8000x7000 pixels, over the 50,000,000-pixel limit"):
        I.decode_image(path, (28, 28), 1)
    sixteen = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16)).save(sixteen)
    assert int(I.decode_image(sixteen, (4, 4), 1).max()) == 40000 >> 8  # scaled, not clipped to 255


# What a camera stores for each EXIF orientation: the upright image turned back by the inverse of the
# transpose the tag asks for (Pillow's ImageOps.exif_transpose applies that transpose).
STORED = {
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}  # fmt: skip


def photo(upright: np.ndarray, orientation: int, path: Path, **save: object) -> Path:
    image = Image.fromarray(upright)
    transpose = STORED[orientation]
    stored = image if transpose is None else image.transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, exif=exif, **save)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_turns_a_photo_upright(tmp_path: Path, orientation: int) -> None:
    """A phone stores a portrait photo sideways with an EXIF orientation tag; archspec decodes (and reports the
    size of) the image as it is displayed, for training, evaluation and predict alike."""
    upright = np.zeros((40, 20), dtype=np.uint8)  # portrait, H 40 x W 20, bright top-left corner
    upright[:10, :5] = 255
    path = photo(upright, orientation, tmp_path / "photo.png")
    pixels, native = I._decode(path, (40, 20), 1)
    assert np.array_equal(pixels[0], upright) and native == (40, 20)


def test_a_sideways_jpeg_shrunk_a_lot_is_upright_and_sharp(tmp_path: Path) -> None:
    """JPEG decodes at a reduced scale (draft) for the stored, sideways size; then turns upright."""
    upright = np.zeros((800, 400), dtype=np.uint8)
    upright[:200, :100] = 255  # the top-left eighth, bright
    path = photo(upright, 6, tmp_path / "photo.jpg", quality=95)
    pixels, native = I._decode(path, (80, 40), 1)
    assert native == (800, 400)
    assert pixels[0, :18, :8].min() > 200 and pixels[0, 22:, :].max() < 60 and pixels[0, :, 12:].max() < 60


def test_a_png_with_a_broken_data_stream_is_an_error_not_noise(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(path)
    raw = bytearray(path.read_bytes())
    idat = raw.index(b"IDAT")
    raw[idat + 40] ^= 0xFF  # one byte inside the compressed pixels
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=f"^{path}: "):
        I.decode_image(path, (64, 64), 1)
