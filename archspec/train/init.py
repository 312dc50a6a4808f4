"""Weight initialisation for training from scratch: the recipe's `init`, one function per kind.

- `default`: PyTorch's own (kaiming-uniform with a = sqrt(5) for convs and linear layers).
- `xavier`: Xavier-uniform conv and linear weights, as d2l's train_ch6.
- `torchvision`: torchvision's ResNet: kaiming-normal (fan_out, ReLU gain) conv weights, norm weight 1 and
  bias 0, the linear layer as PyTorch leaves it; for a RegNet (blocks with `group_width`) the same but the
  classifier N(0, 0.01), bias 0 (torchvision's RegNet); for a ConvNeXt (`convnext` blocks) every conv and linear
  weight truncated-normal with std 0.02 and its bias 0, norms weight 1 and bias 0, the layer scale at its
  `layer_scale` (torchvision's ConvNeXt, and timm's, the same).
- `timm`: timm's ResNet: the same plus the last norm of every residual branch zeroed (`zero_init_last`);
  for a pre-activation network timm's ResNetV2 instead: conv biases 0 and the classifier N(0, 0.01), bias 0
  (ResNetV2 zeroes nothing by default, and its branches end in a conv, not a norm); for a ConvNeXt timm's
  ConvNeXt, which is torchvision's.

Every kind then zeroes what the spec's own `zero_init` asks for, so a spec means the same under any recipe.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from archspec.arch.plan import Plan, lower
from archspec.arch.primitives import Conv, Linear, Norm
from archspec.nn.layouts.regnet import is_regnet
from archspec.recipe.schema import InitKind
from archspec.spec.schema import ResNetSpec

_NORMS = nn.BatchNorm2d | nn.GroupNorm | nn.LayerNorm


def _default(model: nn.Module, plan: Plan, spec: ResNetSpec) -> None:
    """PyTorch's own initialisation: what build() left."""


def _convnext(model: nn.Module) -> None:
    # torchvision.models.convnext.ConvNeXt.__init__ and timm.models.convnext._init_weights (head_init_scale 1)
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, _NORMS):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def _is_convnext(plan: Plan) -> bool:
    return any(block.kind == "convnext" for stage in plan.stages for block in stage.blocks)


def _xavier(model: nn.Module, plan: Plan, spec: ResNetSpec) -> None:
    # d2l's train_ch6: Xavier-uniform weights of every conv and linear layer, biases as PyTorch left them.
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(module.weight)


def _torchvision(model: nn.Module, plan: Plan, spec: ResNetSpec) -> None:
    # torchvision.models.resnet.ResNet.__init__; its linear layer keeps nn.Linear's own initialisation, but in
    # torchvision.models.regnet.RegNet.__init__, whose conv and norm rules are the same
    if _is_convnext(plan):
        _convnext(model)
        return
    regnet = is_regnet(spec)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, _NORMS):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear) and regnet:
            nn.init.normal_(module.weight, mean=0.0, std=0.01)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            module.reset_parameters()


def _timm(model: nn.Module, plan: Plan, spec: ResNetSpec) -> None:
    if _is_convnext(plan):
        _convnext(model)
        return
    if plan.stages[-1].blocks[-1].kind == "preact":  # timm.models.resnetv2._init_weights
        for module in model.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.01)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, _NORMS):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        return
    _torchvision(model, plan, spec)  # timm.models.resnet.ResNet.init_weights, then zero_init_last
    for path in last_norms(plan):
        norm = model.get_submodule(path)
        assert isinstance(norm, _NORMS)
        nn.init.zeros_(norm.weight)


INITS: dict[InitKind, Callable[[nn.Module, Plan, ResNetSpec], None]] = {
    "default": _default,
    "xavier": _xavier,
    "torchvision": _torchvision,
    "timm": _timm,
}


def last_norms(plan: Plan) -> list[str]:
    """The norm right after the last conv of each residual branch (bn2 of a basic block, bn3 of a bottleneck)."""
    paths = []
    for stage in plan.stages:
        for index, block in enumerate(stage.blocks):
            last = max(i for i, layer in enumerate(block.main) if isinstance(layer.op, Conv))
            after = block.main[last + 1] if last + 1 < len(block.main) else None
            if after is not None and isinstance(after.op, Norm):
                paths.append(f"{stage.name}.{index}.main.{after.name}")
    return paths


def init_weights(model: nn.Module, kind: InitKind, spec: ResNetSpec) -> None:
    """Initialise `model`, built from `spec`, as the recipe's `init` says; then the spec's zero_init layers."""
    plan = lower(spec)
    INITS[kind](model, plan, spec)
    for path, layer in plan.layers():
        if isinstance(layer.op, Conv | Norm | Linear) and layer.op.zero_init:
            module = model.get_submodule(path)
            assert isinstance(module, nn.Conv2d | nn.Linear | _NORMS)
            nn.init.zeros_(module.weight)
            if isinstance(module, nn.Conv2d | nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
