"""What every block kind shares: its common settings and the interface its lowering fills in.

A block kind is one module in this package (basic.py, bottleneck.py, ...) holding a subclass of
`BlockBase` with its `kind` Literal, its own fields and its `branch` lowering; it is registered in one
place, `archspec/spec/blocks/__init__.py`. The arch layer lowers every kind the same way:

    out = post(main(pre(x)) + shortcut(pre(x)))     (shortcut(...) = x itself where it does not project)

where `main` is the kind's `branch` (then squeeze-excitation and drop path when set), `pre` is empty but
in pre-activation kinds, and `post` is the activation unless the kind says otherwise.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt, model_validator

from archspec.config.model import Model, fail
from archspec.spec import kinds
from archspec.spec.bounds import MAX_CHANNELS
from archspec.spec.lowering import Layers, Position
from archspec.spec.shortcuts import ShortcutSpec

Activation = Literal["relu", "silu", "gelu"]
NormKind = Literal["batch", "group", "layer", "none"]


class SqueezeExciteSpec(Model):
    ratio: float = Field(
        0.0625,
        gt=0.0,
        le=1.0,
        description="Hidden width of the squeeze-excitation gate as a fraction of the block's output channels "
        "(timm's rd_ratio; 1/16 in Hu et al. 2018).",
    )
    divisor: PositiveInt = Field(
        8,
        le=MAX_CHANNELS,
        description="The hidden width is channels x ratio rounded to the nearest multiple of this, and at "
        "least this (timm's make_divisible); 1 rounds to the nearest whole number (RegNet's int(round(...))).",
    )
    ratio_of: Literal["output", "input"] = Field(
        "output",
        json_schema_extra={"since": 2},
        description="What `ratio` is a fraction of: the block's output channels (SE-ResNet, timm's rd_ratio) or "
        "its input channels (RegNetY: pycls, torchvision and timm take int(round(se_ratio x width_in))).",
    )
    position: Literal["end", "after_3x3"] = Field(
        "end",
        json_schema_extra={"since": 2},
        description="Where the gate sits: 'end', after the branch's last norm (Hu et al. 2018, SE-ResNet); "
        "'after_3x3', after the 3x3 conv's activation, before the last 1x1 conv (RegNetY; bottleneck kinds "
        "only).",
    )

    def hidden(self, channels: int) -> int:
        """Hidden width of the gate for `channels` (the block's input or output channels, as `ratio_of` says)."""
        return max(self.divisor, int(channels * self.ratio + self.divisor / 2) // self.divisor * self.divisor)


class BlockBase(Model):
    conv_bias: bool = Field(False, description="Give the block's convolutions a bias (d2l does; torchvision does not).")
    norm: NormKind = Field(
        "batch",
        description="Normalisation after each convolution of the residual branch: batch, group, layer (over the "
        "channels at each position, eps 1e-6, as ConvNeXt) or none.",
    )
    norm_groups: PositiveInt = Field(
        32,
        le=MAX_CHANNELS,
        description="Groups of group normalisation (norm: group); every normalised width must divide by it.",
    )
    activation: Activation = Field("relu", description="Activation inside the branch and after the addition.")
    shortcut: ShortcutSpec = Field(
        default_factory=ShortcutSpec, description="How the shortcut projects the input when it must."
    )
    squeeze_excite: SqueezeExciteSpec | None = Field(
        None,
        description="Squeeze-and-excitation gate on the residual branch, before the addition (Hu et al. 2018); "
        "null for none.",
    )
    drop_path: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Stochastic depth: the rate of dropping the residual branch reached at the network's last "
        "block; block i of N (counted over all stages) uses drop_path x i / (N - 1) (Huang et al. 2016).",
    )
    zero_init: bool = Field(
        False,
        description="Initialise the last norm of the residual branch (its last conv where it has no norm after "
        "it) to zero, so that each block starts as its shortcut (Goyal et al. 2017).",
    )

    @model_validator(mode="after")
    def _gate_fits(self) -> BlockBase:
        if self.squeeze_excite is not None and self.squeeze_excite.position != "end" and not self.gates_after_3x3:
            fail(("squeeze_excite", "position"), f"{self.squeeze_excite.position} needs a bottleneck or "
                 "bottleneck_v1 block; use end")  # fmt: skip
        return self

    # --- the lowering interface: override in a kind ----------------------------------------------------

    final_norm: ClassVar[bool] = False  # the network needs a norm and activation before the head (preact)
    gates_after_3x3: ClassVar[bool] = False  # the kind places squeeze_excite.position after_3x3 itself
    shortcut_norm: ClassVar[bool] = True  # a projection normalises (preact's reads an already normalised input)

    def pre(self, layers: Layers) -> None:
        """Layers applied to x before both the branch and a projecting shortcut (pre-activation); none here."""

    def branch(self, layers: Layers, channels: int, at: Position) -> None:
        """The residual branch, from the input width to `channels` at stride `at.stride`."""
        raise NotImplementedError(f"block kind {type(self).__name__} has no branch")

    def post(self, layers: Layers) -> None:
        """Layers after the addition: the activation."""
        layers.act("")

    def width_error(self, channels: int) -> str | None:
        """Why a stage of `channels` output channels does not suit these settings, or None."""
        return None

    @classmethod
    def width_divisor(cls, data: dict[str, Any]) -> int:
        """A stage's channels must divide by this for these settings (raw YAML data) to stay valid."""
        return 1


kinds.BASES["block"] = BlockBase  # what a block kind must subclass (archspec.spec.kinds.register_block)
