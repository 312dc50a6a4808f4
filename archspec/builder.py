"""Build a torch model from a spec: lower it into a plan, then turn the plan into modules."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from archspec.blocks import BLOCKS, make_sequential
from archspec.complexity import plan_complexity
from archspec.guard import Limits, check
from archspec.plan import Plan, lower
from archspec.schema import ResNetSpec


def build(spec: ResNetSpec, limits: Limits | None = None, batch_size: int = 1) -> nn.Sequential:
    """The model of `spec` as `nn.Sequential(stem, stage1, ..., stageN, head)`.

    Refuses (ResourceError) a spec whose analytic cost for `batch_size` exceeds `limits`
    (default: archspec.guard's, or ARCHSPEC_MAX_* variables) before allocating anything.
    """
    plan = lower(spec)
    check(plan_complexity(plan, batch_size), limits)
    return build_plan(plan)


def build_plan(plan: Plan) -> nn.Sequential:
    parts: OrderedDict[str, nn.Module] = OrderedDict(stem=make_sequential(plan.stem))
    for stage in plan.stages:
        parts[stage.name] = nn.Sequential(*(BLOCKS[block.kind](block) for block in stage.blocks))
    parts["head"] = make_sequential(plan.head)
    return nn.Sequential(parts)
