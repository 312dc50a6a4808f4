"""Small real datasets for the tests, made from the bundled Fashion-MNIST sample: image folders (PNG and
JPEG files written with Pillow) and CIFAR-layout archives (pickled batches in a .tar.gz), so every test
goes through the real decode path."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from archspec.data.idx import DATASETS, load_dataset

NAMES = DATASETS["fashion-mnist"].classes


def sample(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels) of the bundled sample."""
    data = load_dataset("fashion-mnist", "sample", train=split == "train")
    part = data.train if split == "train" else data.test
    assert part is not None
    return np.asarray(part.images), np.asarray(part.labels)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """A 28x28 gray image as a 3-channel one whose channels differ (a real RGB file, not gray in RGB clothes),
    close enough to gray that a folder mixing both is one distribution."""
    gray = image.astype(np.int32)
    return np.stack([gray, gray * 7 // 8, gray * 3 // 4], axis=-1).astype(np.uint8)


def write_folder(
    root: Path,
    classes: int = 7,
    per_class: int = 20,
    split: str = "train",
    rgb: bool = True,
    jpeg_every: int = 0,
    gray_every: int = 0,
) -> dict[str, list[Path]]:
    """root/<class name>/<n>.png for the first `per_class` sample images of each of the first `classes` labels.

    Every `jpeg_every`-th file is a JPEG, every `gray_every`-th a grayscale PNG (a folder may mix them).
    """
    images, labels = sample(split)
    written: dict[str, list[Path]] = {}
    for label in range(classes):
        folder = root / NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        written[NAMES[label]] = []
        for n, index in enumerate(np.flatnonzero(labels == label)[:per_class]):
            pixels = to_rgb(images[index]) if rgb and not (gray_every and n % gray_every == 0) else images[index]
            jpeg = jpeg_every and n % jpeg_every == jpeg_every - 1
            path = folder / f"{index:05d}.{'jpg' if jpeg else 'png'}"
            Image.fromarray(pixels).save(path, quality=95) if jpeg else Image.fromarray(pixels).save(path)
            written[NAMES[label]].append(path)
    return written


def cifar_images(images: np.ndarray) -> np.ndarray:
    """28x28 gray sample images as CIFAR rows: 32x32 (padded by 2), 3 channels, flattened to 3072 values."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    rgb = np.stack([padded, padded // 2, 255 - padded], axis=1)  # (N, 3, 32, 32)
    return rgb.reshape(len(images), -1).astype(np.uint8)


def cifar_members(variant: str = "cifar10", per_batch: int = 40, bytes_keys: bool = True) -> dict[str, bytes]:
    """The pickled members of a small CIFAR python-version archive (5 training batches + test, or train + test)."""

    def key(name: str) -> str | bytes:
        return name.encode() if bytes_keys else name  # the real archives were pickled by Python 2: bytes keys

    train_images, train_labels = sample("train")
    test_images, test_labels = sample("test")
    members: dict[str, bytes] = {}
    if variant == "cifar10":
        for i in range(5):
            part = slice(i * per_batch, (i + 1) * per_batch)
            batch = {key("data"): cifar_images(train_images[part]), key("labels"): train_labels[part].tolist()}
            members[f"data_batch_{i + 1}"] = pickle.dumps(batch, protocol=2)
        test = {key("data"): cifar_images(test_images[:per_batch]), key("labels"): test_labels[:per_batch].tolist()}
        members["test_batch"] = pickle.dumps(test, protocol=2)
        members["batches.meta"] = pickle.dumps({key("label_names"): [n.encode() for n in NAMES]}, protocol=2)
        return members
    count = 5 * per_batch
    fine = [f"fine-{i}" for i in range(10)]
    coarse = ["even", "odd"]
    for name, images, labels in (("train", train_images[:count], train_labels[:count]),
                                 ("test", test_images[:per_batch], test_labels[:per_batch])):  # fmt: skip
        members[name] = pickle.dumps(
            {key("data"): cifar_images(images), key("fine_labels"): labels.tolist(),
             key("coarse_labels"): (labels % 2).tolist()}, protocol=2,
        )  # fmt: skip
    members["meta"] = pickle.dumps({key("fine_label_names"): fine, key("coarse_label_names"): coarse}, protocol=2)
    return members


def write_cifar(path: Path, members: dict[str, bytes], folder: str = "cifar-10-batches-py") -> Path:
    """A .tar.gz with `members` under `folder/`, as the real archive lays them out."""
    with tarfile.open(path, "w:gz") as archive:
        for name, raw in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return path
