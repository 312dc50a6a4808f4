"""The recipe's `ema`: an exponential moving average of the weights and batch-norm buffers.

torch's own `AveragedModel` with `get_ema_multi_avg_fn` (one fused lerp per dtype) and `use_buffers=True`,
so the average's batch-norm statistics are averaged too and it evaluates without a pass to re-estimate
them (timm's ModelEmaV3 does the same). When to update is a function of the optimizer step count alone
(the scheduler's, which a checkpoint restores), so a resumed run updates at the same steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from archspec.recipe.schema import Ema


class WeightAverage:
    """The average of `model`'s weights as the recipe's `ema` says; `.module` is the averaged network."""

    def __init__(self, model: nn.Module, ema: Ema) -> None:
        self.ema = ema
        average = get_ema_multi_avg_fn(ema.decay)  # type: ignore[no-untyped-call]
        self.average = AveragedModel(model, multi_avg_fn=average, use_buffers=True)
        self.average.requires_grad_(False)

    @property
    def module(self) -> nn.Module:
        module = self.average.module
        assert isinstance(module, nn.Module)
        return module

    @torch.no_grad()
    def update(self, model: nn.Module, steps: int) -> None:
        """After optimizer step number `steps` (1-based, counted over the whole run)."""
        if steps % self.ema.every:
            return
        if steps <= self.ema.warmup:
            self.average.n_averaged.zero_()  # AveragedModel copies the weights while it has averaged none
        self.average.update_parameters(model)

    def weights(self) -> dict[str, torch.Tensor]:
        """The averaged network's state dict, in the model's own names (a checkpoint's `model` can hold it)."""
        return {name: tensor.detach().clone() for name, tensor in self.module.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.weights(), "updates": int(self.average.n_averaged)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["weights"])
        self.average.n_averaged.fill_(state["updates"])


__all__ = ["WeightAverage"]
