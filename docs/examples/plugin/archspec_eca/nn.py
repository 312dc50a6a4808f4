"""The torch module of the ECA gate: imported by archspec only when it builds a model that has one."""

from __future__ import annotations

import torch
from torch import nn

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
