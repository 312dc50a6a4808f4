"""Lower a ResNetSpec into a plan of primitive layers. Pure Python, no torch.

The plan is the single source of truth for shapes and costs: the torch builder
turns each primitive into one module, and the complexity report reads the same
primitives (archspec/primitives.py), so the model and its figures cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from archspec.arch.primitives import (
    Act,
    Conv,
    Dropout,
    DropPath,
    Flatten,
    GlobalPool,
    Layer,
    Linear,
    Norm,
    Op,
    Pool,
    Shape,
    SqueezeExcite,
    ZeroPad,
)
from archspec.config.document import format_path
from archspec.errors import SpecError

if TYPE_CHECKING:
    from archspec.config.model import Loc
    from archspec.spec.schema import AnyBlockSpec, ResNetSpec, StageSpec, StemSpec

__all__ = [
    "Act",
    "Block",
    "Conv",
    "DropPath",
    "Dropout",
    "Flatten",
    "GlobalPool",
    "Layer",
    "Linear",
    "Norm",
    "Op",
    "Plan",
    "PlanError",
    "Pool",
    "Shape",
    "SqueezeExcite",
    "Stage",
    "ZeroPad",
    "lower",
]


class PlanError(SpecError):
    """A spec that cannot be lowered; `loc` is the field path to blame."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(f"{format_path(loc)}: {message}" if loc else message)
        self.loc = loc
        self.message = message


@dataclass(frozen=True)
class Block:
    """A residual block: out = post(main(pre(x)) + shortcut(x)); an empty shortcut is the identity.

    `pre` is empty except in pre-activation blocks, whose projecting shortcut reads pre(x) instead
    of x (the identity shortcut still carries x itself).
    """

    kind: str
    in_shape: Shape
    out_shape: Shape
    main: tuple[Layer, ...]
    shortcut: tuple[Layer, ...]
    post: tuple[Layer, ...]
    pre: tuple[Layer, ...] = ()

    @property
    def layers(self) -> Iterator[tuple[str, Layer]]:
        parts = (("pre", self.pre), ("main", self.main), ("shortcut", self.shortcut), ("post", self.post))
        for part, layers in parts:
            for layer in layers:
                yield f"{part}.{layer.name}", layer


@dataclass(frozen=True)
class Stage:
    name: str
    blocks: tuple[Block, ...]
    in_shape: Shape
    out_shape: Shape
    reduction: int = 1  # total stride from the input to this stage's output (what detection heads call stride)


@dataclass(frozen=True)
class Plan:
    name: str
    input_shape: Shape
    stem: tuple[Layer, ...]
    stages: tuple[Stage, ...]
    head: tuple[Layer, ...]
    output_shape: Shape = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_shape", self.head[-1].out_shape)

    def layers(self) -> Iterator[tuple[str, Layer]]:
        """Every primitive with its dotted module path in the built model (e.g. `stage1.0.main.conv1`)."""
        for layer in self.stem:
            yield f"stem.{layer.name}", layer
        for stage in self.stages:
            for index, block in enumerate(stage.blocks):
                for path, layer in block.layers:
                    yield f"{stage.name}.{index}.{path}", layer
        for layer in self.head:
            yield f"head.{layer.name}", layer

    @property
    def params(self) -> int:
        return sum(layer.op.params for _, layer in self.layers())


# --- lowering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NormSettings:
    kind: str  # batch, group or none
    groups: int
    loc: Loc  # where to blame a width that group norm cannot split


class _Chain:
    """Appends primitives while carrying the current shape along (the builder's `in_channels`)."""

    def __init__(self, shape: Shape, loc: Loc) -> None:
        self.shape = shape
        self.loc = loc
        self.layers: list[Layer] = []

    def add(self, name: str, op: Op, loc: Loc | None = None) -> None:
        shape = self.shape
        if isinstance(op, Conv | Pool | ZeroPad):
            height, width = op.out_size(shape.height), op.out_size(shape.width)
            if height < 1 or width < 1:
                window = f"kernel {op.kernel_size}, padding {op.padding}, " if not isinstance(op, ZeroPad) else ""
                raise PlanError(
                    loc or self.loc,
                    f"feature map shrinks below 1x1 ({shape.height}x{shape.width} in, {window}stride {op.stride}); "
                    "use a larger input, a smaller kernel or more padding",
                )
            channels = shape.channels if isinstance(op, Pool) else op.out_channels
            out = Shape(channels, height, width)
        elif isinstance(op, GlobalPool):
            out = Shape(shape.channels, 1, 1)
        elif isinstance(op, Flatten):
            out = Shape(shape.numel)
        elif isinstance(op, Linear):
            out = Shape(op.out_features)
        else:
            out = shape
        self.layers.append(Layer(name, op, shape, out))
        self.shape = out

    def norm(self, suffix: str, norm: _NormSettings, zero_init: bool = False) -> None:
        channels = self.shape.channels
        if norm.kind == "none":
            return
        if norm.kind == "group" and channels % norm.groups:
            raise PlanError(
                norm.loc,
                f"group norm needs every normalised width divisible by norm_groups ({norm.groups}), "
                f"got a width of {channels}; pick norm_groups dividing it",
            )
        self.add(f"norm{suffix}", Norm(norm.kind, channels, norm.groups if norm.kind == "group" else 1, zero_init))

    def act(self, suffix: str, activation: str | None) -> None:
        if activation is not None and activation != "none":
            self.add(f"act{suffix}", Act(activation))

    def conv_norm_act(self, suffix: str, conv: Conv, norm: _NormSettings, activation: str | None,
                      loc: Loc | None = None, zero_init: bool = False) -> None:  # fmt: skip
        """conv, then norm, then activation; `zero_init` zeroes the norm, or the conv where there is no norm."""
        self.add(f"conv{suffix}", _with(conv, zero_init=zero_init and norm.kind == "none"), loc)
        self.norm(suffix, norm, zero_init)
        self.act(suffix, activation)

    def conv(self, out_channels: int, kernel_size: int, stride: int = 1, bias: bool = False, groups: int = 1,
             dilation: int = 1) -> Conv:  # fmt: skip
        """A conv from the current width, padded to keep the size at stride 1."""
        padding = dilation * (kernel_size // 2)
        return Conv(self.shape.channels, out_channels, kernel_size, stride, padding, bias, groups, dilation)


def _with(conv: Conv, zero_init: bool) -> Conv:
    if not zero_init:
        return conv
    return Conv(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.bias,
                conv.groups, conv.dilation, zero_init=True)  # fmt: skip


def lower(spec: ResNetSpec) -> Plan:
    """Lower a validated spec into its plan; raises PlanError for impossible shapes."""
    input_shape = Shape(spec.input.channels, spec.input.height, spec.input.width)
    stem = _Chain(input_shape, ("stem",))
    reduction = _lower_stem(stem, spec.stem)
    shape = stem.shape
    if spec.output_stride is not None and spec.output_stride < reduction:
        raise PlanError(
            ("output_stride",), f"must be at least the stem's stride ({reduction}), got {spec.output_stride}"
        )

    total = sum(stage.blocks for stage in spec.stages)
    counted = 0
    dilation = 1
    stages = []
    for index, stage_spec in enumerate(spec.stages):
        stride, first_dilation = stage_spec.stride, dilation
        if stride > 1 and spec.output_stride is not None and reduction * stride > spec.output_stride:
            stride, dilation = 1, dilation * stride  # keep the resolution, widen the receptive field instead
        reduction *= stride
        blocks = []
        stage_in = shape
        for position in range(stage_spec.blocks):
            rate = stage_spec.block.drop_path * counted / max(total - 1, 1)
            at = _Position(index, position, stride if position == 0 else 1,
                           first_dilation if position == 0 else dilation, dilation, rate)  # fmt: skip
            block = _lower_block(stage_spec, at, shape)
            blocks.append(block)
            shape = block.out_shape
            counted += 1
        stages.append(Stage(f"stage{index + 1}", tuple(blocks), stage_in, shape, reduction))

    head = _Chain(shape, ("head",))
    last = spec.stages[-1].block
    if last.kind == "preact":  # ResNet v2: the last block's output has not been normalised yet
        loc: Loc = ("stages", len(spec.stages) - 1, "block", "norm_groups")
        head.norm("", _NormSettings(last.norm, last.norm_groups, loc))
        head.act("", last.activation)
    head.add("pool", GlobalPool(spec.head.pool))
    head.add("flatten", Flatten())
    if spec.head.dropout > 0:
        head.add("dropout", Dropout(spec.head.dropout))
    head.add("fc", Linear(shape.channels, spec.head.num_classes))
    return Plan(spec.name, input_shape, tuple(stem.layers), tuple(stages), tuple(head.layers))


def _lower_stem(chain: _Chain, s: StemSpec) -> int:
    """Append the stem's layers; returns its total stride."""
    norm = _NormSettings(s.norm, s.norm_groups, ("stem", "norm_groups"))
    if s.kind == "conv":
        conv = Conv(chain.shape.channels, s.channels, s.kernel_size, s.stride, s.resolved_padding, s.conv_bias)
        chain.conv_norm_act("", conv, norm, s.activation, ("stem", "kernel_size"))
        stride = s.stride
    elif s.kind == "deep":
        # Bag of Tricks' ResNet-C: three 3x3 convs cost about as much as one 7x7 and see as far.
        assert s.width is not None  # resolved by the schema
        for suffix, width, conv_stride in (("1", s.width, s.stride), ("2", s.width, 1), ("3", s.channels, 1)):
            conv = chain.conv(width, 3, conv_stride, s.conv_bias)
            chain.conv_norm_act(suffix, conv, norm, s.activation, ("stem", "stride"))
        stride = s.stride
    else:
        chain.conv_norm_act("", chain.conv(s.channels, 3, 1, s.conv_bias), norm, s.activation, ("stem",))
        return 1
    if s.pool is not None:
        p = s.pool
        chain.add("pool", Pool(p.kind, p.kernel_size, p.stride, p.padding), ("stem", "pool"))
        stride *= p.stride
    return stride


@dataclass(frozen=True)
class _Position:
    """Where a block sits and what that implies: its stride, dilations and drop-path rate."""

    stage: int
    index: int
    stride: int
    first_dilation: int  # of the block's first 3x3 conv (the stage's previous dilation, as torchvision)
    dilation: int  # of any later 3x3 conv
    drop_path: float


def _lower_block(stage: StageSpec, at: _Position, shape: Shape) -> Block:
    spec = stage.block
    loc: Loc = ("stages", at.stage, "stride")
    norm = _NormSettings(spec.norm, spec.norm_groups, ("stages", at.stage, "block", "norm_groups"))
    pre = _Chain(shape, loc)
    main = _Chain(shape, loc)
    if spec.kind == "basic":
        _basic_branch(main, spec, norm, stage.channels, at)
    elif spec.kind == "bottleneck":
        _bottleneck_branch(main, spec, norm, stage.channels, at)
    else:
        pre.norm("1", norm)
        pre.act("1", spec.activation)
        _preact_branch(main, spec, norm, stage.channels, at)
    if spec.squeeze_excite is not None:
        channels = main.shape.channels
        main.add("squeeze_excite", SqueezeExcite(channels, spec.squeeze_excite.hidden(channels), spec.activation))
    if at.drop_path > 0:
        main.add("drop_path", DropPath(at.drop_path))
    out_shape = main.shape

    shortcut = _Chain(shape, loc)
    projects = out_shape != shape or (spec.shortcut.when == "stage_start" and at.index == 0 and at.stage > 0)
    if projects:
        _projection(shortcut, spec, norm, stage.channels, at)
    post = _Chain(out_shape, loc)
    if spec.kind != "preact":
        post.act("", spec.activation)
    return Block(spec.kind, shape, out_shape, tuple(main.layers), tuple(shortcut.layers), tuple(post.layers),
                 tuple(pre.layers))  # fmt: skip


def _projection(chain: _Chain, spec: AnyBlockSpec, norm: _NormSettings, channels: int, at: _Position) -> None:
    kind = spec.shortcut.kind
    if spec.kind == "preact":  # the input is normalised already (timm's ResNetV2 DownsampleConv(preact=True))
        norm = _NormSettings("none", 1, norm.loc)
    if kind == "conv":
        chain.add("conv", Conv(chain.shape.channels, channels, 1, at.stride, 0, bias=True))
    elif kind == "conv_norm":
        chain.conv_norm_act("", Conv(chain.shape.channels, channels, 1, at.stride), norm, None)
    elif kind == "avg_conv_norm":
        if at.stride > 1:  # ResNet-D: average the pixels a strided 1x1 conv would skip
            chain.add("pool", Pool("avg", at.stride, at.stride, 0, ceil_mode=True))
        chain.conv_norm_act("", Conv(chain.shape.channels, channels, 1), norm, None)
    elif chain.shape.channels > channels:
        raise PlanError(
            ("stages", at.stage, "block", "shortcut", "kind"),
            f"a zero_pad shortcut cannot reduce channels ({chain.shape.channels} -> {channels}); "
            "use conv_norm, or keep channels from growing smaller",
        )
    elif chain.shape.channels != channels or at.stride > 1:
        chain.add("pad", ZeroPad(chain.shape.channels, channels, at.stride))


def _basic_branch(chain: _Chain, spec: AnyBlockSpec, norm: _NormSettings, channels: int, at: _Position) -> None:
    # (C, H, W) -> (channels, H/stride, W/stride)
    bias, act = spec.conv_bias, spec.activation
    chain.conv_norm_act("1", chain.conv(channels, 3, at.stride, bias, dilation=at.first_dilation), norm, act)
    chain.conv_norm_act("2", chain.conv(channels, 3, 1, bias, dilation=at.dilation), norm, None,
                        zero_init=spec.zero_init)  # fmt: skip


def _bottleneck_branch(chain: _Chain, spec: AnyBlockSpec, norm: _NormSettings, channels: int, at: _Position) -> None:
    # Stride on the 3x3 conv, as torchvision's "ResNet v1.5".
    assert spec.kind != "basic"
    width, bias, act = spec.width(channels), spec.conv_bias, spec.activation
    chain.conv_norm_act("1", chain.conv(width, 1, 1, bias), norm, act)
    conv = chain.conv(width, 3, at.stride, bias, spec.groups, at.first_dilation)
    chain.conv_norm_act("2", conv, norm, act)
    chain.conv_norm_act("3", chain.conv(channels, 1, 1, bias), norm, None, zero_init=spec.zero_init)


def _preact_branch(chain: _Chain, spec: AnyBlockSpec, norm: _NormSettings, channels: int, at: _Position) -> None:
    # ResNet v2 (He et al. 2016, "Identity Mappings"): norm and activation come before each conv.
    assert spec.kind == "preact"
    width, bias, act = spec.width(channels), spec.conv_bias, spec.activation
    chain.add("conv1", chain.conv(width, 1, 1, bias))
    chain.norm("2", norm)
    chain.act("2", act)
    chain.add("conv2", chain.conv(width, 3, at.stride, bias, spec.groups, at.first_dilation))
    chain.norm("3", norm)
    chain.act("3", act)
    chain.add("conv3", _with(chain.conv(channels, 1, 1, bias), zero_init=spec.zero_init))
