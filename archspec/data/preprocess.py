"""Turn batches of uint8 images into model inputs on the training device: whole-batch tensor ops only.

Augmentation runs at the stored resolution (28x28 for Fashion-MNIST), before the resize, so it costs the
same at any model input size; random numbers come from an explicit generator so that a resumed run
repeats them. `Preprocessing` is the part a deployed model needs (size, channels, scale, mean, std): it is
stored in checkpoints and in every export's metadata, so that predict and plain onnxruntime or torch code
prepare images exactly as training did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from archspec.data.augment import Policy
from archspec.errors import ArchspecError

SCALE = 1.0 / 255.0


@dataclass(frozen=True)
class Preprocessing:
    """input = ((uint8 pixels * scale) - mean) / std, NCHW float32, at height x width (the export contract)."""

    height: int
    width: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float = SCALE

    @property
    def channel_order(self) -> str:
        return {1: "L", 3: "RGB"}.get(self.channels, f"{self.channels} channels")

    def to_dict(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
            "channel_order": self.channel_order,
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, value: Any, source: str, error: type[ArchspecError] = ArchspecError) -> Preprocessing:
        """Read the stored form back; `error` naming `source` and the field when it is malformed."""
        if not isinstance(value, Mapping):
            raise error(f"{source}: preprocess metadata is not a JSON object")
        missing = [key for key in ("height", "width", "channels", "channel_order", "scale", "mean", "std")
                   if key not in value]  # fmt: skip
        if missing:
            raise error(f"{source}: preprocess metadata lacks {', '.join(missing)}")
        try:
            height, width, channels = (int(value[key]) for key in ("height", "width", "channels"))
            mean = tuple(float(v) for v in value["mean"])
            std = tuple(float(v) for v in value["std"])
            scale = float(value.get("scale", SCALE))
        except (KeyError, TypeError, ValueError) as err:
            raise error(f"{source}: preprocess metadata lacks or mangles {err}") from None
        if min(height, width, channels) < 1 or len(mean) != channels or len(std) != channels or min(std) <= 0:
            raise error(f"{source}: preprocess metadata is inconsistent: {dict(value)}")
        order = value.get("channel_order")
        prep = cls(height, width, channels, mean, std, scale)
        if order is not None and order != prep.channel_order:
            raise error(f"{source}: preprocess channel_order {order!r} does not match {channels} channels")
        return prep

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) already at height x width -> the model's float input."""
        x = images.float() * self.scale
        mean = torch.tensor(self.mean, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std


Size = int | tuple[int, int]
Stats = float | Sequence[float]


@dataclass(frozen=True)
class Preprocess:
    """uint8 (N, C, H, W), or (N, H, W) for one channel -> float (N, C, size), optionally augmented and normalised."""

    size: Size | None = None
    mean: Stats | None = None
    std: Stats | None = None
    crop_padding: int = 0
    flip: bool = False
    erasing: float = 0.0
    channels_last: bool = False
    random_resized_crop: tuple[float, float] | None = None
    policy: Policy | None = None  # RandAugment, TrivialAugment or AutoAugment (archspec.data.augment)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Evaluation-time transform when `generator` is None; training-time (augmented) otherwise."""
        if images.dim() == 3:
            images = images.unsqueeze(1)  # (N, 1, H, W)
        x = images.float().div_(255.0)  # in [0, 1], like ToTensor
        target = pair(self.size) if self.size is not None else (x.shape[-2], x.shape[-1])
        if generator is not None:
            x = self.augment(x, generator)
            if self.random_resized_crop is not None:
                x = random_resized_crop(x, target, self.random_resized_crop, generator)
        if (x.shape[-2], x.shape[-1]) != target:
            # d2l resizes PIL images bilinearly before ToTensor. PIL filters over the source pixels when it
            # shrinks (antialias); on upscaling there is nothing to filter, and torch's plain kernel is kept.
            shrink = target[0] < x.shape[-2] or target[1] < x.shape[-1]
            x = F.interpolate(x, size=target, mode="bilinear", align_corners=False, antialias=shrink)
        if self.mean is not None and self.std is not None:
            x = (x - _per_channel(self.mean, x)) / _per_channel(self.std, x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @classmethod
    def for_testing(cls, preprocessing: Preprocessing, normalize: bool, channels_last: bool = False) -> Preprocess:
        """The evaluation transform of a model trained with `preprocessing` (no augmentation)."""
        size = (preprocessing.height, preprocessing.width)
        mean, std = (preprocessing.mean, preprocessing.std) if normalize else (None, None)
        return cls(size=size, mean=mean, std=std, channels_last=channels_last)

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.crop_padding:
            x = random_crop(x, self.crop_padding, generator)
        if self.flip:
            flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        if self.policy is not None:  # before erasing, as in timm's and torchvision's training transforms
            x = self.policy(x, generator)
        if self.erasing:
            x = random_erase(x, self.erasing, generator)
        return x


def pair(size: Size) -> tuple[int, int]:
    """(height, width) of a size given as one side (a square) or as a pair."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _per_channel(value: Stats, x: torch.Tensor) -> torch.Tensor | float:
    if isinstance(value, int | float):
        return float(value)
    return torch.tensor(list(value), dtype=x.dtype, device=x.device).view(1, -1, 1, 1)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad each side by `padding`, then crop each image back to (H, W) at its own random offset."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=x.device, generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=x.device, generator=generator)
    rows = top + torch.arange(h, device=x.device).view(1, h, 1)  # (N, H, 1)
    cols = left + torch.arange(w, device=x.device).view(1, 1, w)  # (N, 1, W)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (N, C, H, W)


def random_resized_crop(
    x: torch.Tensor,
    size: tuple[int, int],
    scale: tuple[float, float],
    generator: torch.Generator,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Inception-style crop of each image: a random box of area fraction in `scale` and aspect ratio in
    `ratio` (clipped to the image), resampled bilinearly to `size`, all images at once via grid_sample."""
    n = x.shape[0]
    dev = x.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, device=dev, generator=generator)

    area = uniform(*scale)
    aspect = torch.exp(uniform(math.log(ratio[0]), math.log(ratio[1])))
    box_w = (area * aspect).sqrt().clamp(max=1.0)  # fractions of the width and height
    box_h = (area / aspect).sqrt().clamp(max=1.0)
    centre_x = (uniform(0.0, 1.0) * (1 - box_w) + box_w / 2) * 2 - 1  # in [-1, 1] grid coordinates
    centre_y = (uniform(0.0, 1.0) * (1 - box_h) + box_h / 2) * 2 - 1
    theta = torch.zeros(n, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = box_w, centre_x
    theta[:, 1, 1], theta[:, 1, 2] = box_h, centre_y
    grid = F.affine_grid(theta, [n, x.shape[1], *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_erase(
    x: torch.Tensor,
    probability: float,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 3.3),
) -> torch.Tensor:
    """Zero one random rectangle per image with `probability` (torchvision's RandomErasing defaults, value 0)."""
    n, _, h, w = x.shape
    dev = x.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, device=dev, generator=generator)

    area = uniform(*scale) * h * w
    aspect = torch.exp(uniform(math.log(ratio[0]), math.log(ratio[1])))
    eh = (area * aspect).sqrt().round().clamp(1, h).long()
    ew = (area / aspect).sqrt().round().clamp(1, w).long()
    top = (uniform(0.0, 1.0) * (h - eh + 1)).long()
    left = (uniform(0.0, 1.0) * (w - ew + 1)).long()
    apply = torch.rand(n, device=dev, generator=generator) < probability
    r = torch.arange(h, device=dev).view(1, h, 1)
    c = torch.arange(w, device=dev).view(1, 1, w)
    inside = (
        (r >= top.view(n, 1, 1))
        & (r < (top + eh).view(n, 1, 1))
        & (c >= left.view(n, 1, 1))
        & (c < (left + ew).view(n, 1, 1))
        & apply.view(n, 1, 1)
    )
    return x.masked_fill(inside.unsqueeze(1), 0.0)
