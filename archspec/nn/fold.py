"""Batch norm folded into the convolution before it, for evaluation: the same function (within rounding) at
about 1.15x the speed of a test pass (docs/benchmarks.md). Training's test passes and deployment's inference
copy both use it, so it lives below them."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator

import torch
from torch import nn


def eval_copy(model: nn.Module, *, fold: bool = True) -> nn.Module:
    """An eval-mode copy of `model` for inference, its parameters frozen and (`fold`) its batch norms folded;
    `model` itself is left as it was. (A deep copy does not copy the parameters' gradients.)"""
    copied = copy.deepcopy(model).eval()
    for param in copied.parameters():
        param.requires_grad_(False)
    return fold_batchnorm(copied) if fold else copied


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d (in an nn.Sequential) into it.

    The conv gets the norm's scale in its weight and the shift in its bias; the norm becomes an
    nn.Identity, so module paths stay the same. Works in place on `model` and returns it.
    """
    for sequential in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for (_, conv), (norm_name, norm) in _pairs(sequential):
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                _fold(conv, norm)
                setattr(sequential, norm_name, nn.Identity())
    return model


def _pairs(sequential: nn.Sequential) -> Iterator[tuple[tuple[str, nn.Module], tuple[str, nn.Module]]]:
    return itertools.pairwise(list(sequential.named_children()))


@torch.no_grad()
def _fold(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    assert norm.running_mean is not None and norm.running_var is not None
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.affine:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.affine:
        shift = shift + norm.bias
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
    conv.bias = nn.Parameter(bias * scale + shift)
