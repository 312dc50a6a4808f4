"""The torch module of the ECA gate: imported by archspec only when it builds a model that has one."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archspec_eca.blur import BlurPool
from archspec_eca.gate import EcaGate


class Eca(nn.Module):
    """(N, C, H, W) -> (N, C, H, W): each channel scaled by a gate computed across the pooled channels."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean((2, 3)).unsqueeze(1)  # (N, 1, C)
        gate = self.conv(pooled).sigmoid()  # (N, 1, C)
        return x * gate.transpose(1, 2).unsqueeze(-1)  # (N, C, 1, 1) broadcast over H, W


def make(op: EcaGate) -> nn.Module:
    return Eca(op.kernel_size)


class Blur(nn.Module):
    """(N, C, H, W) -> (N, C, ceil(H/s), ceil(W/s)): a [1, 2, 1] x [1, 2, 1] / 16 blur per channel, subsampled."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = (taps[:, None] * taps[None, :] / 16).expand(channels, 1, 3, 3).contiguous()
        self.register_buffer("kernel", kernel, persistent=False)  # fixed: no weight to save or load
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.kernel, stride=self.stride, padding=1, groups=x.shape[1])


def make_blur(op: BlurPool) -> nn.Module:
    return Blur(op.channels, op.stride)
