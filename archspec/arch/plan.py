"""Lower a ResNetSpec into a plan of primitive layers. Pure Python, no torch.

The plan is the single source of truth for shapes and costs: the torch builder
turns each primitive into one module, and the complexity report reads the same
primitives (archspec/primitives.py), so the model and its figures cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

from archspec.arch.primitives import (
    Act,
    Conv,
    Dropout,
    DropPath,
    Flatten,
    GlobalPool,
    Layer,
    LayerScale,
    Linear,
    Norm,
    Op,
    Permute,
    Pool,
    Shape,
    SqueezeExcite,
    ZeroPad,
)
from archspec.config.model import Loc, LocatedError
from archspec.errors import SpecError
from archspec.spec import kinds
from archspec.spec.blocks import BlockBase
from archspec.spec.lowering import Position
from archspec.spec.schema import DownsampleSpec, ResNetSpec

__all__ = [
    "Act",
    "Block",
    "Conv",
    "DropPath",
    "Dropout",
    "Flatten",
    "GlobalPool",
    "Layer",
    "LayerScale",
    "Linear",
    "Norm",
    "Op",
    "Outline",
    "Permute",
    "Plan",
    "PlanError",
    "Pool",
    "Run",
    "Shape",
    "SqueezeExcite",
    "Stage",
    "StageOutline",
    "ZeroPad",
    "lower",
    "outline",
]


PlanError = LocatedError  # a spec that cannot be lowered; `loc` is the field path to blame


@dataclass(frozen=True)
class Block:
    """A residual block: out = post(main(pre(x)) + shortcut(x)); an empty shortcut is the identity.

    `pre` is empty except in pre-activation blocks, whose projecting shortcut reads pre(x) instead
    of x (the identity shortcut still carries x itself).
    """

    kind: str
    in_shape: Shape
    out_shape: Shape
    stride: int
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
    downsample: tuple[Layer, ...] = ()  # a separate downsampling layer before the blocks (ConvNeXt); or none

    @property
    def stride(self) -> int:
        """The stage's stride: of its downsampling layer where it has one, else of its first block."""
        strides = [layer.op.stride for layer in self.downsample if isinstance(layer.op, Conv)]
        return strides[0] if strides else self.blocks[0].stride


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
            for layer in stage.downsample:
                yield f"{stage.name}.downsample.{layer.name}", layer
            for index, block in enumerate(stage.blocks):
                for path, layer in block.layers:
                    yield f"{stage.name}.{index}.{path}", layer
        for layer in self.head:
            yield f"head.{layer.name}", layer

    @property
    def params(self) -> int:
        return sum(layer.op.params for _, layer in self.layers())


# --- lowering: archspec.spec.lowering.Layers, implemented over primitives -------------------------


@dataclass(frozen=True)
class _Settings:
    """The norm, activation and conv bias a kind's layers default to, and where to blame a bad norm width."""

    norm: str  # batch, group, layer or none
    norm_groups: int
    activation: str  # "none" for no activation
    conv_bias: bool
    norm_loc: Loc


class _Chain:
    """Appends primitives while carrying the current shape along (the builder's `in_channels`)."""

    def __init__(self, shape: Shape, loc: Loc, settings: _Settings) -> None:
        self.shape = shape
        self.loc = loc
        self.settings = settings
        self.layers: list[Layer] = []

    @property
    def channels(self) -> int:
        return self.shape.channels

    def add(self, name: str, op: Op, loc: Loc | None = None) -> None:
        kind = kinds.primitive_kind(type(op))
        if kind is None:
            self.fail(loc or self.loc, f"layer {name!r} is a {type(op).__name__}, not a registered primitive "
                      "(archspec kinds lists them)")  # fmt: skip
        if kind.package != kinds.ARCHSPEC:
            out = _plugin_call(kind, loc or self.loc, lambda: _rules_of(op, self.shape))
        else:
            out = op.out_shape(self.shape)
        if out.height < 1 or out.width < 1:
            self.fail(loc or self.loc, f"feature map shrinks below 1x1 ({self.shape.height}x{self.shape.width} in, "
                      f"{op.window()}); use a larger input, a smaller kernel or more padding")  # fmt: skip
        self.layers.append(Layer(name, op, self.shape, out))
        self.shape = out

    def fail(self, loc: Loc, message: str) -> NoReturn:
        raise PlanError(loc, message)

    def conv(self, name: str, out_channels: int, kernel_size: int, stride: int = 1, *, padding: int | None = None,
             groups: int = 1, dilation: int = 1, bias: bool | None = None, zero_init: bool = False,
             loc: Loc | None = None) -> None:  # fmt: skip
        pad = dilation * (kernel_size // 2) if padding is None else padding
        bias = self.settings.conv_bias if bias is None else bias
        op = Conv(self.channels, out_channels, kernel_size, stride, pad, bias, groups, dilation, zero_init)
        self.add(name, op, loc)

    def norm(self, name: str, zero_init: bool = False, channels_last: bool = False) -> None:
        kind, groups = self.settings.norm, self.settings.norm_groups
        if kind == "none":
            return
        if kind == "group" and self.channels % groups:
            self.fail(self.settings.norm_loc, f"group norm needs every normalised width divisible by norm_groups "
                      f"({groups}), got a width of {self.channels}; pick norm_groups dividing it")  # fmt: skip
        if channels_last and kind != "layer":  # the kind's own validator says this first, located at its field
            raise AssertionError(f"{kind} norm on a channels-last tensor")
        op = Norm(kind, self.channels, groups if kind == "group" else 1, zero_init, channels_last)
        self.add(f"norm{name}", op)

    def linear(self, name: str, out_features: int, bias: bool | None = None, zero_init: bool = False) -> None:
        bias = self.settings.conv_bias if bias is None else bias
        self.add(name, Linear(self.channels, out_features, bias, zero_init))

    def permute(self, name: str, channels_last: bool) -> None:
        self.add(name, Permute(channels_last))

    def layer_scale(self, name: str, init: float) -> None:
        self.add(name, LayerScale(self.channels, init))

    def act(self, name: str) -> None:
        if self.settings.activation != "none":
            self.add(f"act{name}", Act(self.settings.activation))

    def conv_norm_act(self, suffix: str, out_channels: int, kernel_size: int, stride: int = 1, *,
                      padding: int | None = None, groups: int = 1, dilation: int = 1, bias: bool | None = None,
                      act: bool = True, zero_init: bool = False, loc: Loc | None = None) -> None:  # fmt: skip
        unnormalised = self.settings.norm == "none"
        self.conv(f"conv{suffix}", out_channels, kernel_size, stride, padding=padding, groups=groups,
                  dilation=dilation, bias=bias, zero_init=zero_init and unnormalised, loc=loc)  # fmt: skip
        self.norm(suffix, zero_init)
        if act:
            self.act(suffix)

    def pool(self, name: str, kind: str, kernel_size: int, stride: int, padding: int, ceil_mode: bool = False,
             loc: Loc | None = None) -> None:  # fmt: skip
        self.add(name, Pool(kind, kernel_size, stride, padding, ceil_mode), loc)

    def zero_pad(self, name: str, out_channels: int, stride: int) -> None:
        self.add(name, ZeroPad(self.channels, out_channels, stride))

    def squeeze_excite(self, name: str, hidden: int) -> None:
        self.add(name, SqueezeExcite(self.channels, hidden, self.settings.activation))


@dataclass(frozen=True)
class Run:
    """`count` blocks in a row that lower alike: `block` is the first of them."""

    block: Block
    count: int


@dataclass(frozen=True)
class StageOutline:
    name: str
    runs: tuple[Run, ...]
    in_shape: Shape
    out_shape: Shape
    reduction: int = 1
    downsample: tuple[Layer, ...] = ()

    @property
    def blocks(self) -> int:
        return sum(run.count for run in self.runs)

    @property
    def stride(self) -> int:
        strides = [layer.op.stride for layer in self.downsample if isinstance(layer.op, Conv)]
        return strides[0] if strides else self.runs[0].block.stride


@dataclass(frozen=True)
class Outline:
    """A plan with each stage's repeated blocks lowered once and counted: its size does not grow with the
    block counts, so a spec's shapes and costs are known at once however deep it is (see `outline`)."""

    name: str
    input_shape: Shape
    stem: tuple[Layer, ...]
    stages: tuple[StageOutline, ...]
    head: tuple[Layer, ...]

    @property
    def output_shape(self) -> Shape:
        return self.head[-1].out_shape

    @property
    def params(self) -> int:
        blocks = sum(run.count * sum(layer.op.params for _, layer in run.block.layers)
                     for stage in self.stages for run in stage.runs)  # fmt: skip
        downsample = sum(layer.op.params for stage in self.stages for layer in stage.downsample)
        return blocks + downsample + sum(layer.op.params for layer in (*self.stem, *self.head))


def lower(spec: ResNetSpec) -> Plan:
    """Lower a validated spec into its plan; raises PlanError (a located SpecError) for impossible shapes.

    The plan has one object per primitive of every block: for a spec of unknown size, check it first with
    `outline` (and the resource guard), whose work does not grow with the block counts.
    """
    outline = _walk(spec, compact=False)
    stages = tuple(Stage(s.name, tuple(run.block for run in s.runs), s.in_shape, s.out_shape, s.reduction,
                         s.downsample) for s in outline.stages)  # fmt: skip
    return Plan(outline.name, outline.input_shape, outline.stem, stages, outline.head)


def outline(spec: ResNetSpec) -> Outline:
    """The plan of `spec` with each stage's repeated blocks lowered once: the same shape checks as `lower`
    (PlanError), in time and memory that do not grow with the block counts.

    A block after a stage's first keeps its input's shape (stride 1, the stage's channels); where it does,
    every later block of the stage lowers to the same primitives (drop path's rate aside, which changes no
    shape or cost), so it stands for all of them.
    """
    return _walk(spec, compact=True)


def _walk(spec: ResNetSpec, compact: bool) -> Outline:
    input_shape = Shape(spec.input.channels, spec.input.height, spec.input.width)
    s = spec.stem
    stem = _Chain(input_shape, ("stem",), _Settings(s.norm, s.norm_groups, s.activation, s.conv_bias,
                                                   ("stem", "norm_groups")))  # fmt: skip
    reduction = _plugin_call(kinds.find("stem", s.kind), ("stem", "kind"), lambda: s.lower(stem))
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
        runs = []
        stage_in = shape
        downsample: tuple[Layer, ...] = ()
        if stage_spec.downsample is not None:
            if stride == 1:  # output_stride took this stage's stride: a kernel-2 conv at stride 1 cannot keep it
                raise PlanError(("stages", index, "downsample"), f"output_stride {spec.output_stride} keeps this "
                                "stage at stride 1 and its downsampling layer cannot dilate; set downsample: null "
                                "or raise output_stride")  # fmt: skip
            down = _downsample(stage_spec.downsample, stage_spec.channels, stride, shape, index)
            downsample, shape, stride = tuple(down.layers), down.shape, 1  # the blocks run at stride 1
        # a plugin kind's failure: at the stage's own kind where it has one, else at the spec's
        own = getattr(stage_spec.block, "kind", None) != getattr(spec.block, "kind", None)
        blame: Loc = ("stages", index, "block", "kind") if own else ("block", "kind")
        position = 0
        while position < stage_spec.blocks:
            rate = stage_spec.block.drop_path * counted / max(total - 1, 1)
            at = Position(index, position, stride if position == 0 else 1,
                          first_dilation if position == 0 else dilation, dilation, rate)  # fmt: skip
            block = _lower_block(stage_spec.block, stage_spec.channels, at, shape, blame)
            count = 1
            if compact and position > 0 and block.out_shape == block.in_shape:
                count = stage_spec.blocks - position  # this block stands for the rest of the stage
            runs.append(Run(block, count))
            shape = block.out_shape
            counted += count
            position += count
        stages.append(StageOutline(f"stage{index + 1}", tuple(runs), stage_in, shape, reduction, downsample))

    last = spec.stages[-1].block
    head = _Chain(shape, ("head",), _block_settings(last, len(spec.stages) - 1))
    if last.final_norm:  # ResNet v2: the last block's output has not been normalised yet
        head.norm("")
        head.act("")
    head.add("pool", GlobalPool(spec.head.pool))
    if spec.head.norm == "layer":  # ConvNeXt: a layer norm of the pooled features (torchvision, timm)
        head.add("norm", Norm("layer", shape.channels))
    head.add("flatten", Flatten())
    if spec.head.dropout > 0:
        head.add("dropout", Dropout(spec.head.dropout))
    head.add("fc", Linear(shape.channels, spec.head.num_classes))
    return Outline(spec.name, input_shape, tuple(stem.layers), tuple(stages), tuple(head.layers))


def _downsample(down: DownsampleSpec, channels: int, stride: int, shape: Shape, stage: int) -> _Chain:
    """A stage's separate downsampling layer: norm, then a stride x stride conv of stride `stride` (ConvNeXt)."""
    loc: Loc = ("stages", stage, "downsample")
    chain = _Chain(shape, loc, _Settings(down.norm, 1, "none", down.conv_bias, loc))
    chain.norm("")
    chain.conv("conv", channels, stride, stride, padding=0)
    return chain


def _block_settings(block: BlockBase, stage: int, norm: bool = True) -> _Settings:
    loc: Loc = ("stages", stage, "block", "norm_groups")
    return _Settings(block.norm if norm else "none", block.norm_groups, block.activation, block.conv_bias, loc)


T = TypeVar("T")


def _plugin_call(kind: kinds.Kind | None, loc: Loc, call: Callable[[], T]) -> T:
    """`call()`, where a plugin's code runs: whatever it raises but a located error becomes one PlanError
    naming the plugin and the kind, located at `loc` (archspec's own kinds are trusted: a bug is a traceback)."""
    if kind is None or kind.package == kinds.ARCHSPEC:
        return call()
    try:
        return call()
    except SpecError:
        raise
    except Exception as err:  # third-party code: any exception is the plugin's bug, said in one line
        text = str(err).strip().splitlines()
        raise PlanError(loc, f"{kind.category} kind {kind.name!r} of plugin {kind.package} failed: "
                        f"{type(err).__name__}: {text[0] if text else ''}") from None  # fmt: skip


def _rules_of(op: Any, shape: Shape) -> Shape:
    """A plugin primitive's rules, each called once, so that one that raises fails at lowering, located."""
    out = op.out_shape(shape)
    if not isinstance(out, Shape):
        raise TypeError(f"out_shape returned {type(out).__name__}, not a Shape")
    for rule in (op.macs, op.other_ops, op.kept, op.torchinfo_mult_adds):
        rule(out)
    counts = (op.params, op.macs(out), op.other_ops(out), op.torchinfo_mult_adds(out))
    if not all(isinstance(n, int) and n >= 0 for n in counts):
        raise TypeError(f"params, macs, other_ops and torchinfo_mult_adds must be counts, got {counts}")
    op.receptive(1, 1)
    return out


def _lower_block(spec: BlockBase, channels: int, at: Position, shape: Shape, blame: Loc) -> Block:
    """out = post(main(pre(x)) + shortcut(pre(x))), the shortcut being x itself where it does not project;
    `blame` is the field to blame where a plugin's lowering fails."""
    kind = kinds.find("block", str(getattr(spec, "kind", "")))
    return _plugin_call(kind, blame, lambda: _lower_parts(spec, channels, at, shape))


def _lower_parts(spec: BlockBase, channels: int, at: Position, shape: Shape) -> Block:
    loc: Loc = ("stages", at.stage, "stride")
    settings = _block_settings(spec, at.stage)
    pre = _Chain(shape, loc, settings)
    spec.pre(pre)
    main = _Chain(pre.shape, loc, settings)
    spec.branch(main, channels, at)
    se = spec.squeeze_excite
    if se is not None and se.position == "end":  # a kind places any other position in its branch
        main.squeeze_excite("squeeze_excite", se.hidden(shape.channels if se.ratio_of == "input" else main.channels))
    if at.drop_path > 0:
        main.add("drop_path", DropPath(at.drop_path))
    out_shape = main.shape
    shortcut = _Chain(pre.shape, loc, _block_settings(spec, at.stage, norm=spec.shortcut_norm))
    if out_shape != shape or (spec.shortcut.when == "stage_start" and at.index == 0 and at.stage > 0):
        where: Loc = ("stages", at.stage, "block", "shortcut", "kind")
        project = spec.shortcut.project
        _plugin_call(kinds.find("shortcut", spec.shortcut.kind), where,
                     lambda: project(shortcut, channels, at.stride, where))  # fmt: skip
    post = _Chain(out_shape, loc, settings)
    spec.post(post)
    return Block(str(getattr(spec, "kind", "")), shape, out_shape, at.stride, tuple(main.layers),
                 tuple(shortcut.layers), tuple(post.layers), tuple(pre.layers))  # fmt: skip
