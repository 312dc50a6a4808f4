"""Turn batches of uint8 images into model inputs on the training device: whole-batch tensor ops only.

Augmentation runs at the source resolution (28x28), before the resize, so it costs the same at any
model input size; random numbers come from an explicit generator so that a resumed run repeats them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class Preprocess:
    """uint8 (N, H, W) -> float (N, 1, size, size), optionally augmented and normalised."""

    size: int | None = None
    mean: float | None = None
    std: float | None = None
    crop_padding: int = 0
    flip: bool = False
    erasing: float = 0.0
    channels_last: bool = False

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Evaluation-time transform when `generator` is None; training-time (augmented) otherwise."""
        x = images.unsqueeze(1).float().div_(255.0)  # (N, 1, H, W) in [0, 1], like ToTensor
        if generator is not None:
            x = self.augment(x, generator)
        if self.size is not None and self.size != x.shape[-1]:
            # d2l resizes PIL images bilinearly before ToTensor; on upscaling antialiasing is a no-op.
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.crop_padding:
            x = random_crop(x, self.crop_padding, generator)
        if self.flip:
            flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        if self.erasing:
            x = random_erase(x, self.erasing, generator)
        return x


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
