"""Build a torch model from a spec: lower it into a plan, then turn the plan into modules."""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal, overload

import torch
from torch import nn

from archspec.arch.guard import Limits, Workload, check_spec
from archspec.arch.plan import Plan, Stage, lower
from archspec.nn.layers import ResidualBlock, make_sequential
from archspec.spec.schema import ResNetSpec


class Features(nn.Module):
    """A backbone: (N, C, H, W) -> {stage name: (N, channels[i], H / reduction[i], W / reduction[i])}.

    The stem and the stages of the classifier, without the head. `feature_info` lists, per stage,
    its name, channels and reduction (total stride, as detection and segmentation heads need); the
    spatial size is exact for inputs whose size divides by the reduction, and otherwise what the plan
    says (`plan.stages[i].out_shape`). In a preact network the last stage's output has not passed the
    final norm and activation, which belong to the head (as timm's ResNetV2 `stages` features).
    """

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.stem = make_sequential(plan.stem)
        self.stage_names = [stage.name for stage in plan.stages]
        for stage in plan.stages:  # attributes named as in the classifier, so state dicts match
            self.add_module(stage.name, _stage(stage))
        self.feature_info: list[dict[str, str | int]] = [
            {"name": stage.name, "channels": stage.out_shape.channels, "reduction": stage.reduction}
            for stage in plan.stages
        ]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(x)
        out: dict[str, torch.Tensor] = {}
        for name in self.stage_names:
            x = getattr(self, name)(x)
            out[name] = x
        return out


@overload
def build(
    spec: ResNetSpec, features: Literal[False] = False, limits: Limits | None = None, batch_size: int = 1
) -> nn.Sequential: ...
@overload
def build(spec: ResNetSpec, features: Literal[True], limits: Limits | None = None, batch_size: int = 1) -> Features: ...
def build(
    spec: ResNetSpec, features: bool = False, limits: Limits | None = None, batch_size: int = 1
) -> nn.Sequential | Features:
    """The model of `spec` as `nn.Sequential(stem, stage1, ..., stageN, head)`.

    With `features=True`, the backbone instead: a `Features` module whose forward returns every
    stage's output by name, with the same parameter names (so a classifier's state dict loads into it
    with `strict=False`, leaving out the head).

    A pure function of the spec. With `limits` (archspec.arch.guard.Limits), it first refuses
    (ResourceError) a spec whose analytic cost for an inference batch of `batch_size` exceeds them, before
    lowering it block by block or allocating anything; without, it checks nothing: policy (flags,
    ARCHSPEC_MAX_* variables) is the caller's, applied once.
    """
    if limits is not None:
        check_spec(spec, limits, Workload(batch_size))
    plan = lower(spec)
    return Features(plan) if features else build_plan(plan)


def build_plan(plan: Plan) -> nn.Sequential:
    parts: OrderedDict[str, nn.Module] = OrderedDict(stem=make_sequential(plan.stem))
    for stage in plan.stages:
        parts[stage.name] = _stage(stage)
    parts["head"] = make_sequential(plan.head)
    return nn.Sequential(parts)


def _stage(stage: Stage) -> nn.Sequential:
    """The stage's blocks as `0`, `1`, ...; after its separate downsampling layer `downsample`, where it has one."""
    parts: OrderedDict[str, nn.Module] = OrderedDict()
    if stage.downsample:
        parts["downsample"] = make_sequential(stage.downsample)
    parts.update((str(index), ResidualBlock(block)) for index, block in enumerate(stage.blocks))
    return nn.Sequential(parts)
