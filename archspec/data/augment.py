"""Automatic augmentation policies on whole batches (kornia's), and a global RNG seeded from an explicit generator.

kornia (`kornia.augmentation.auto`) runs RandAugment, TrivialAugment and AutoAugment on torch tensors on
any device, with no torchvision or PIL: a batch is one call. It draws from torch's global generator, so
each call runs under `seeded(generator)`: the global state is forked, seeded from the epoch's generator
(archspec.train.loop.epoch_generator) and put back, and a resumed run repeats every draw. kornia draws
the operations once per batch and their random parts (sign, probability, TrivialAugment's magnitude)
per image.

What each policy needs of the data: archspec.data.policies (checked before any image is decoded).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from archspec.data.policies import PolicyName, check_policy

MAX_SEED = 2**63 - 1


@contextmanager
def seeded(generator: torch.Generator) -> Iterator[None]:
    """Run the block with torch's global generator seeded by one draw from `generator`, then restore it."""
    seed = int(torch.randint(0, MAX_SEED, (), device=generator.device, generator=generator))
    cuda = generator.device.type == "cuda"
    with torch.random.fork_rng(devices=[generator.device] if cuda else []):
        # not torch.manual_seed: it also queues a seed for every CUDA device, formatting a traceback each time
        torch.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.manual_seed(seed)
        yield


@dataclass(frozen=True)
class Policy:
    """One policy with its settings, for images of `channels` channels in [0, 1]."""

    name: PolicyName
    channels: int
    ops: int = 2  # randaugment's N
    magnitude: int = 9  # randaugment's M, out of 30

    @cached_property
    def module(self) -> Any:
        """The kornia module (built on first use: importing kornia takes a second)."""
        check_policy(self.name, self.channels)
        from kornia.augmentation.auto import AutoAugment, RandAugment, TrivialAugment
        from kornia.augmentation.auto.rand_augment.rand_augment import default_policy

        if self.name == "randaugment":
            candidates = [sub for sub in default_policy if self.channels == 3 or sub[0][0] != "color"]
            return RandAugment(n=self.ops, m=self.magnitude, policy=candidates)
        if self.name == "trivialaugment":
            return TrivialAugment()
        return AutoAugment("imagenet")

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(N, C, H, W) floats in [0, 1], augmented; the draws come from `generator`."""
        with seeded(generator):
            out = self.module(x)
        assert isinstance(out, torch.Tensor)
        return out


__all__ = ["Policy", "seeded"]
