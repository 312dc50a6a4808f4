"""Torch modules for plan primitives and residual blocks.

One torch module per plan primitive and one residual block module for every block kind: a block kind's
structure is all in its plan (archspec/spec/blocks/<kind>.py lowers it), so a new kind needs nothing here.
Each primitive's module comes from the function its registration names (archspec/spec/kinds.py): the
functions below for archspec's own, `torch="yourpackage.nn:make"` for a plugin's, imported when first used.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archspec.arch import plan as P
from archspec.spec import kinds

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "silu": nn.SiLU,  # not in place: in-place SiLU would make autograd keep a copy of its input
    "gelu": nn.GELU,
}


class DropPath(nn.Module):
    """(N, ...) -> (N, ...): in training, zero whole samples with probability p and scale the rest by 1/(1-p)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class ZeroPad(nn.Module):
    """(N, C_in, H, W) -> (N, C_out, ceil(H/s), ceil(W/s)): subsample, append zero channels (option A)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class SqueezeExcite(nn.Module):
    """(N, C, H, W) -> (N, C, H, W): x times a per-channel sigmoid gate computed from its global average."""

    def __init__(self, channels: int, hidden: int, activation: str) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = _ACTIVATIONS[activation]()
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate: torch.Tensor = self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True))))  # (N, C, 1, 1)
        return x * gate.sigmoid()


class LayerNorm2d(nn.LayerNorm):
    """(N, C, H, W) -> (N, C, H, W): layer norm over the channels at each position, as torchvision's and timm's
    LayerNorm2d (permute, `F.layer_norm`, permute back: the same arithmetic, so the same function)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (N, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)  # (N, C, H, W)


class Permute(nn.Module):
    """(N, C, H, W) -> (N, H, W, C), or back: where a ConvNeXt block runs channels-last."""

    def __init__(self, channels_last: bool) -> None:
        super().__init__()
        self.dims = (0, 2, 3, 1) if channels_last else (0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


class LayerScale(nn.Module):
    """(N, C, H, W) -> (N, C, H, W): x times a learnable per-channel weight (ConvNeXt's gamma)."""

    def __init__(self, channels: int, init: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1)


LAYER_NORM_EPS = 1e-6  # ConvNeXt's (torchvision and timm alike), not nn.LayerNorm's 1e-5


def conv(op: P.Conv) -> nn.Module:
    module = nn.Conv2d(op.in_channels, op.out_channels, op.kernel_size, op.stride, op.padding, op.dilation,
                       op.groups, op.bias)  # fmt: skip
    return _zeroed(module) if op.zero_init else module


def norm(op: P.Norm) -> nn.Module:
    module: nn.BatchNorm2d | nn.GroupNorm | nn.LayerNorm
    if op.kind == "layer":
        module = (nn.LayerNorm if op.channels_last else LayerNorm2d)(op.channels, eps=LAYER_NORM_EPS)
    elif op.kind == "group":
        module = nn.GroupNorm(op.groups, op.channels)
    else:
        module = nn.BatchNorm2d(op.channels)
    return _zeroed(module) if op.zero_init else module


def permute(op: P.Permute) -> nn.Module:
    return Permute(op.channels_last)


def layer_scale(op: P.LayerScale) -> nn.Module:
    return LayerScale(op.channels, op.init)


def act(op: P.Act) -> nn.Module:
    return _ACTIVATIONS[op.kind]()


def pool(op: P.Pool) -> nn.Module:
    if op.kind == "max":
        return nn.MaxPool2d(op.kernel_size, op.stride, op.padding, ceil_mode=op.ceil_mode)
    return nn.AvgPool2d(op.kernel_size, op.stride, op.padding, ceil_mode=op.ceil_mode,
                        count_include_pad=not op.ceil_mode)  # fmt: skip


def global_pool(op: P.GlobalPool) -> nn.Module:
    return nn.AdaptiveAvgPool2d(1) if op.kind == "avg" else nn.AdaptiveMaxPool2d(1)


def flatten(op: P.Flatten) -> nn.Module:
    return nn.Flatten(1)


def dropout(op: P.Dropout) -> nn.Module:
    return nn.Dropout(op.p)


def drop_path(op: P.DropPath) -> nn.Module:
    return DropPath(op.p)


def zero_pad(op: P.ZeroPad) -> nn.Module:
    return ZeroPad(op.in_channels, op.out_channels, op.stride)


def squeeze_excite(op: P.SqueezeExcite) -> nn.Module:
    return SqueezeExcite(op.channels, op.hidden, op.activation)


def linear(op: P.Linear) -> nn.Module:
    module = nn.Linear(op.in_features, op.out_features, op.bias)
    return _zeroed(module) if op.zero_init else module


_FACTORIES: dict[type, Callable[[Any], nn.Module]] = {}  # resolved registrations, by primitive class


def factory(cls: type) -> Callable[[Any], nn.Module]:
    """The function that makes the torch module of primitive class `cls`, from its registration."""
    found = _FACTORIES.get(cls)
    if found is None:
        kind = kinds.primitive_kind(cls)
        if kind is None:
            raise kinds.PluginError(f"{cls.__name__} is not a registered primitive (archspec kinds lists them)")
        try:
            found = kinds.resolve(kind.torch)
        except Exception as err:  # a plugin's torch module that does not import is the plugin's error
            raise kinds.PluginError(f"plugin {kind.package}: primitive {kind.name!r}: its torch module "
                                    f"{kind.torch} does not load: {type(err).__name__}: {err}") from None  # fmt: skip
        _FACTORIES[cls] = found
    return found


def make_layer(op: P.Op) -> nn.Module:
    """The torch module of one plan primitive."""
    make = factory(type(op))
    kind = kinds.primitive_kind(type(op))
    if kind is None or kind.package == kinds.ARCHSPEC:
        return make(op)
    try:
        module = make(op)
    except Exception as err:  # a plugin's bug, said in one line
        raise kinds.PluginError(f"plugin {kind.package}: primitive {kind.name!r}: making its torch module "
                                f"failed: {type(err).__name__}: {err}") from None  # fmt: skip
    if not isinstance(module, nn.Module):
        raise kinds.PluginError(f"plugin {kind.package}: primitive {kind.name!r}: {kind.torch} returned "
                                f"{type(module).__name__}, not a torch.nn.Module")  # fmt: skip
    return module


def _zeroed(module: nn.Conv2d | nn.Linear | nn.BatchNorm2d | nn.GroupNorm | nn.LayerNorm) -> nn.Module:
    """The module with its weight (and a conv's bias) zeroed, so the branch it ends outputs zeros."""
    nn.init.zeros_(module.weight)
    if isinstance(module, nn.Conv2d | nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


def make_sequential(layers: Iterable[P.Layer]) -> nn.Sequential:
    """An nn.Sequential whose children carry the plan's layer names."""
    return nn.Sequential(OrderedDict((layer.name, make_layer(layer.op)) for layer in layers))


class ResidualBlock(nn.Module):
    """(N, C_in, H, W) -> (N, C_out, H/s, W/s): post(main(pre(x)) + shortcut(pre(x))), every block kind alike.

    `pre` is empty but in pre-activation kinds; where the shortcut does not project, x itself is added
    (so a preact block's identity path carries x, not its normalised copy).
    """

    def __init__(self, block: P.Block) -> None:
        super().__init__()
        self.pre = make_sequential(block.pre)
        for module in self.pre.modules():  # x itself feeds the identity shortcut: never overwrite it
            if isinstance(module, nn.ReLU):
                module.inplace = False
        self.main = make_sequential(block.main)
        self.shortcut: nn.Module = make_sequential(block.shortcut) if block.shortcut else nn.Identity()
        self.post = make_sequential(block.post)
        self.projects = bool(block.shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre(x)
        out: torch.Tensor = self.post(self.main(pre) + (self.shortcut(pre) if self.projects else x))
        return out
