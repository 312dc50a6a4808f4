"""The automatic augmentation policies' names and what each needs of the data (no torch: recipes read it).

archspec.data.augment runs them (kornia's). kornia's `color` operation (saturation) needs three channels:
RandAugment leaves it out of its candidates on other data (on a grey image it is the identity, as
torchvision treats it); AutoAugment's ImageNet sub-policies pair it with other operations, so AutoAugment
needs RGB images. TrivialAugment's candidates have no colour operation.
"""

from __future__ import annotations

import importlib.util
from typing import Literal, get_args

from archspec.errors import ArchspecError

PolicyName = Literal["randaugment", "trivialaugment", "autoaugment"]  # the recipe's augment.policy
POLICIES: tuple[PolicyName, ...] = get_args(PolicyName)
NEEDS_RGB: tuple[PolicyName, ...] = ("autoaugment",)


def check_policy(name: PolicyName, channels: int) -> None:
    """Whether policy `name` can run on images of `channels` channels, with kornia installed (before any data)."""
    if name in NEEDS_RGB and channels != 3:
        raise ArchspecError(
            f"augment.policy: {name} needs 3-channel (RGB) images, but the data has {channels} "
            f"channel{'s' if channels != 1 else ''}; use randaugment or trivialaugment"
        )
    if importlib.util.find_spec("kornia") is None:
        raise ArchspecError(f"augment.policy: {name} needs kornia; pip install 'archspec[augment]'")


__all__ = ["NEEDS_RGB", "POLICIES", "PolicyName", "check_policy"]
