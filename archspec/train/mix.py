"""Mixup and CutMix on whole batches, with the soft targets they train against (timm's `Mixup`, batch mode).

Written here rather than imported: timm's `Mixup` needs timm (and torchvision) and draws from numpy's
global generator, which a resumed run could not repeat. This follows its semantics exactly: with
probability `mix_prob` a batch is mixed with itself reversed, by cutmix with probability `switch_prob`
when both are on, with a share `lam ~ Beta(alpha, alpha)`; a cutmix box of area `1 - lam` (clipped to the
image, `lam` then corrected to the pasted area); the targets are the label-smoothed one-hot vectors mixed
by the same share. Every draw comes from the epoch's generator (archspec.train.loop.epoch_generator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from archspec.data.augment import seeded
from archspec.recipe.schema import Recipe


@dataclass(frozen=True)
class Mixed:
    """A mixed batch: the inputs, the soft targets, and each example's label with the larger share."""

    inputs: torch.Tensor
    targets: torch.Tensor  # (N, classes), rows summing to 1
    labels: torch.Tensor  # for the training accuracy
    share: float  # lam: the share of the batch itself (1: not mixed)


@dataclass(frozen=True)
class Mix:
    """The recipe's mixup and cutmix (an alpha of None is off), for a head of `classes` classes."""

    mixup: float | None
    cutmix: float | None
    mix_prob: float
    switch_prob: float
    label_smoothing: float
    classes: int

    @classmethod
    def from_recipe(cls, recipe: Recipe, classes: int) -> Mix | None:
        aug = recipe.augment
        if aug.mixup is None and aug.cutmix is None:
            return None
        return cls(aug.mixup, aug.cutmix, aug.mix_prob, aug.switch_prob, recipe.label_smoothing, classes)

    def draw(self, generator: torch.Generator) -> tuple[float, bool]:
        """(lam, cutmix?) for one batch, as timm's `_params_per_batch`."""
        coins = torch.rand(2, device=generator.device, generator=generator).tolist()
        if coins[0] >= self.mix_prob:
            return 1.0, False
        use_cutmix = self.mixup is None or (self.cutmix is not None and coins[1] < self.switch_prob)
        alpha = self.cutmix if use_cutmix else self.mixup
        assert alpha is not None
        with seeded(generator):  # Beta has no generator argument: draw it from a global RNG seeded by ours
            lam = float(torch.distributions.Beta(alpha, alpha).sample())
        return lam, use_cutmix

    def __call__(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> Mixed:
        """Mix the batch `x` (N, C, H, W) with its reverse; labels (N,) become soft targets."""
        lam, use_cutmix = self.draw(generator)
        if lam < 1.0 and use_cutmix:
            x, lam = self.paste(x, lam, generator)
        elif lam < 1.0:
            x = torch.lerp(x.flip(0), x, lam)  # lam * x + (1 - lam) * reversed
        off = self.label_smoothing / self.classes
        one_hot = F.one_hot(labels, self.classes).to(torch.float32) * (1.0 - self.label_smoothing) + off
        targets = torch.lerp(one_hot.flip(0), one_hot, lam)
        return Mixed(x, targets, labels if lam >= 0.5 else labels.flip(0), lam)

    def paste(self, x: torch.Tensor, lam: float, generator: torch.Generator) -> tuple[torch.Tensor, float]:
        """Paste one box (the same for the whole batch) of the reversed batch; lam corrected to the box's area."""
        h, w = x.shape[-2:]
        ratio = math.sqrt(1.0 - lam)
        cut_h, cut_w = int(h * ratio), int(w * ratio)
        cy, cx = (int(torch.randint(0, side, (), device=generator.device, generator=generator))
                  for side in (h, w))  # fmt: skip
        top, bottom = min(max(cy - cut_h // 2, 0), h), min(max(cy + cut_h // 2, 0), h)
        left, right = min(max(cx - cut_w // 2, 0), w), min(max(cx + cut_w // 2, 0), w)
        x = x.clone()
        x[:, :, top:bottom, left:right] = x.flip(0)[:, :, top:bottom, left:right]
        return x, 1.0 - (bottom - top) * (right - left) / (h * w)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -sum(targets * log_softmax(logits)) (timm's SoftTargetCrossEntropy)."""
    return F.cross_entropy(logits, targets)


__all__ = ["Mix", "Mixed", "soft_cross_entropy"]
