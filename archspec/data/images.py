"""Image files to uint8 arrays with Pillow: one image (`decode_image`), or many in worker processes into a
memory-mapped array with a progress bar (`decode_into`). numpy and Pillow only, no torch.

Every image becomes (C, H, W) uint8 at the size asked for: turned upright as its EXIF orientation says (a
phone's portrait photo is stored sideways with a tag), converted to grayscale (`L`) for one channel or `RGB`
for three (so a folder may mix both), resized with Pillow's bilinear filter (antialiased when it shrinks).
Training, evaluation and `archspec predict` all decode through `decode_image`.
"""

from __future__ import annotations

import errno
import math
import multiprocessing
import os
import sys
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from archspec.errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MODES = {1: "L", 3: "RGB"}
MAX_PIXELS = 50_000_000  # per image; Pillow's own bomb check warns at 89M and refuses at 179M
_SIXTEEN_BIT = ("I", "I;16", "I;16B", "I;16L", "I;16N")
_ORIENTATION = 0x0112  # the EXIF tag
_SIDEWAYS = (5, 6, 7, 8)  # orientations that turn the stored image by 90 degrees


def decode_image(path: Path | str, size: tuple[int, int], channels: int) -> np.ndarray:
    """One image file as (channels, H, W) uint8 at `size` (H, W); DataError naming the file if it is unreadable."""
    try:
        return _decode(Path(path), size, channels)[0]
    except DataError:
        raise
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError ... on bad files
        raise DataError(f"{path}: {_reason(Path(path), err)}") from None


def _decode(path: Path, size: tuple[int, int], channels: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(pixels, native (H, W))."""
    height, width = size
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes), not an image")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as opened:
            image: Image.Image = opened
            if image.width * image.height > MAX_PIXELS:
                raise DataError(f"{path}: {image.width}x{image.height} pixels, over the {MAX_PIXELS:,}-pixel limit")
            # JPEG: its EXIF is in the header; decode at a reduced scale when shrinking a lot, asking for the size
            # of the stored (maybe sideways) image. Other formats: read the EXIF only after load() has decoded the
            # pixels, whose errors must surface (a PNG's getexif() loads the image and _orientation would swallow
            # a broken data stream, leaving a half-decoded image).
            stored = (image.height, image.width)  # before draft() shrinks it
            orientation = _orientation(image) if image.format == "JPEG" else None
            image.draft(MODES[channels], (height, width) if orientation in _SIDEWAYS else (width, height))
            image.load()
            if image.format != "JPEG":
                orientation = _orientation(image)
            native = (stored[1], stored[0]) if orientation in _SIDEWAYS else stored  # (H, W) as displayed
            if orientation not in (None, 1):
                image = ImageOps.exif_transpose(image)
            if image.mode in _SIXTEEN_BIT:  # 16-bit grayscale PNG: keep the top 8 bits (convert() would clip)
                image = Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8))
            image = image.convert(MODES[channels])
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.array(image, dtype=np.uint8)  # a writable copy (asarray's view of Pillow's buffer is not)
    return (pixels[None] if channels == 1 else np.ascontiguousarray(pixels.transpose(2, 0, 1))), native


def _reason(path: Path, err: Exception) -> str:
    if isinstance(err, UnidentifiedImageError):
        return "not an image Pillow can read (unknown format or corrupt header)"
    if isinstance(err, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return f"too many pixels ({err})"
    if isinstance(err, OSError) and err.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(err, OSError) and err.errno is not None:
        return f"cannot read: {err.strerror}"
    text = " ".join(str(err).split())[:160]
    if "truncated" in text.lower():
        return f"truncated image file ({text})"
    return f"corrupt image ({type(err).__name__}: {text})"


def _orientation(image: Image.Image) -> int | None:
    """The EXIF orientation (1-8), or None where there is none or the EXIF block is unreadable (the pixels
    may still be fine: the image is then taken as stored)."""
    try:
        value = image.getexif().get(_ORIENTATION)
    except Exception:
        return None
    return value if isinstance(value, int) and 1 <= value <= 8 else None


# --- many images, in worker processes -----------------------------------------------------------


@dataclass
class Decoded:
    """What a decode pass found besides the pixels."""

    errors: list[tuple[int, str]] = field(default_factory=list)  # (index, "path: reason")
    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)  # native (H, W) -> count


def default_workers(count: int) -> int:
    """0 (decode in this process) for small jobs, where starting processes costs more than it saves."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if count < 2048 or cpus < 2 else min(cpus, 8)


def decode_into(
    files: Sequence[Path],
    array_path: Path,
    size: tuple[int, int],
    channels: int,
    workers: int,
    label: str = "decoding",
    quiet: bool = False,
) -> Decoded:
    """Decode every file into row i of the (N, C, H, W) uint8 .npy at `array_path` (already created).

    Unreadable files are reported, not raised: the caller decides between an error and skipping them.
    With `workers` > 0 the work is split into chunks over that many processes (spawned: the parent may
    hold torch's threads, which fork does not copy safely).
    """
    total = Decoded()
    hidden = quiet or not sys.stderr.isatty()
    bar = tqdm(total=len(files), desc=label, unit="img", disable=hidden, dynamic_ncols=True, leave=False)
    names = [str(path) for path in files]
    try:
        if workers <= 0:
            for begin in range(0, len(names), 1024):
                _merge(total, _decode_chunk(str(array_path), begin, names[begin : begin + 1024], size, channels))
                bar.update(min(1024, len(names) - begin))
            return total
        chunk = max(64, min(1024, math.ceil(len(names) / (workers * 8))))
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending: set[Future[tuple[int, Decoded]]] = {
                pool.submit(_decode_chunk, str(array_path), begin, names[begin : begin + chunk], size, channels)
                for begin in range(0, len(names), chunk)
            }
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    part = future.result()
                    _merge(total, part)
                    bar.update(part[0])
        return total
    finally:
        bar.close()


def _merge(total: Decoded, part: tuple[int, Decoded]) -> None:
    total.errors.extend(part[1].errors)
    total.sizes.update(part[1].sizes)


def _decode_chunk(
    array_path: str, begin: int, names: list[str], size: tuple[int, int], channels: int
) -> tuple[int, Decoded]:
    """Worker: decode `names` into rows begin.. of the memory-mapped array."""
    out = np.load(array_path, mmap_mode="r+")
    found = Decoded()
    for offset, name in enumerate(names):
        path = Path(name)
        try:
            out[begin + offset], native = _decode(path, size, channels)
            found.sizes[native] += 1
        except DataError as err:
            found.errors.append((begin + offset, str(err)))
        except Exception as err:
            found.errors.append((begin + offset, f"{name}: {_reason(path, err)}"))
    out.flush()
    del out
    return len(names), found
