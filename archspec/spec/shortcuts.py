"""Shortcut kinds: how a residual block's shortcut projects its input when the shape changes.

Each kind is one projection function, registered in the kinds registry (archspec/spec/kinds.py) like a
plugin's; `ShortcutSpec.kind` accepts the registered names and the JSON Schema lists them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from archspec.config.model import Model, fail
from archspec.spec import kinds
from archspec.spec.lowering import Layers

ShortcutKind = str  # a registered shortcut kind: archspec.spec.kinds.names("shortcut")


def _enum(schema: dict[str, Any]) -> None:
    schema["enum"] = list(kinds.names("shortcut"))  # the installed kinds, when the JSON Schema is made


class ShortcutSpec(Model):
    kind: ShortcutKind = Field(
        "conv_norm",
        description="Projection used when a shortcut projects: 'conv_norm' is a bias-free strided 1x1 conv "
        "then norm (torchvision); 'conv' is a strided 1x1 conv with bias and no norm (d2l); "
        "'avg_conv_norm' is a 2x2 average pool (only when strided), then a bias-free 1x1 conv and norm "
        "(ResNet-D); 'zero_pad' is parameter-free: subsample by the stride and pad the new channels with "
        "zeros (He et al. 2016, CIFAR option A). In a preact block the projection reads the already "
        "normalised input, so the kinds with a norm drop it (timm's ResNetV2).",
        json_schema_extra=_enum,
    )
    when: Literal["shape_change", "stage_start"] = Field(
        "shape_change",
        description="When to project: 'shape_change' only where channels or resolution change (torchvision); "
        "'stage_start' at the first block of every stage but the first (d2l's first_block), "
        "and wherever the shape changes.",
    )

    @field_validator("kind")
    @classmethod
    def _registered(cls, value: str) -> str:
        installed = kinds.names("shortcut")
        if value not in installed:
            import difflib

            close = difflib.get_close_matches(value, installed, n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            fail((), f"unknown shortcut kind {value[:60]!r}; choose from {', '.join(installed)}{suggestion}"
                 f"{kinds.unknown_hint('shortcut', value)}")  # fmt: skip
        return value

    def project(self, layers: Layers, channels: int, stride: int, loc: tuple[str | int, ...]) -> None:
        """Append the projection to `channels` at `stride` (`layers` normalises as the block does)."""
        kinds.get("shortcut", self.kind).target(layers, channels, stride, loc)


def _conv(layers: Layers, channels: int, stride: int, loc: tuple[str | int, ...]) -> None:
    layers.conv("conv", channels, 1, stride, padding=0, bias=True)  # d2l's conv3: a biased 1x1 conv, no norm


def _conv_norm(layers: Layers, channels: int, stride: int, loc: tuple[str | int, ...]) -> None:
    layers.conv_norm_act("", channels, 1, stride, padding=0, bias=False, act=False)


def _avg_conv_norm(layers: Layers, channels: int, stride: int, loc: tuple[str | int, ...]) -> None:
    if stride > 1:  # ResNet-D: average the pixels a strided 1x1 conv would skip
        layers.pool("pool", "avg", stride, stride, 0, ceil_mode=True)
    layers.conv_norm_act("", channels, 1, padding=0, bias=False, act=False)


def _zero_pad(layers: Layers, channels: int, stride: int, loc: tuple[str | int, ...]) -> None:
    if layers.channels > channels:
        layers.fail(loc, f"a zero_pad shortcut cannot reduce channels ({layers.channels} -> {channels}); "
                    "use conv_norm, or keep channels from growing smaller")  # fmt: skip
    if layers.channels != channels or stride > 1:
        layers.zero_pad("pad", channels, stride)


for _name, _projection, _description in (
    ("conv_norm", _conv_norm, "A bias-free strided 1x1 conv, then norm (torchvision)."),
    ("conv", _conv, "A strided 1x1 conv with bias and no norm (d2l's conv3)."),
    ("avg_conv_norm", _avg_conv_norm, "A 2x2 average pool where strided, a bias-free 1x1 conv and norm (ResNet-D)."),
    ("zero_pad", _zero_pad, "Subsample by the stride, pad the new channels with zeros (He et al. 2016, option A)."),
):
    kinds.register_shortcut(_name, _projection, _description)
