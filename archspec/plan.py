"""Lower a ResNetSpec into a plan of primitive layers. Pure Python, no torch.

The plan is the single source of truth for shapes and costs: the torch builder
turns each primitive into one module, and the complexity report reads the same
primitives, so the model and its figures cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archspec.schema import BasicBlockSpec, BottleneckBlockSpec, Loc, ResNetSpec, StageSpec


class PlanError(Exception):
    """A spec that cannot be lowered; `loc` is the field path to blame."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass(frozen=True)
class Shape:
    """Shape of one sample: channels x height x width (height = width = 1 after flattening)."""

    channels: int
    height: int = 1
    width: int = 1

    @property
    def numel(self) -> int:
        return self.channels * self.height * self.width

    def __str__(self) -> str:
        return f"{self.channels}x{self.height}x{self.width}"


# --- primitives -------------------------------------------------------------------------------
# Each primitive knows its parameters and its multiply-accumulates (`macs(out_shape)`, per
# sample, convolutions and linear layers only); complexity.py adds everything else up.


class _Free:
    """A primitive without parameters or mult-adds (activations, pooling, reshapes)."""

    params = 0

    def macs(self, out: Shape) -> int:
        return 0


@dataclass(frozen=True)
class Conv:
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    bias: bool = False
    groups: int = 1
    dilation: int = 1

    def out_size(self, size: int) -> int:
        return (size + 2 * self.padding - self.dilation * (self.kernel_size - 1) - 1) // self.stride + 1

    @property
    def params(self) -> int:
        weight = self.out_channels * (self.in_channels // self.groups) * self.kernel_size**2
        return weight + (self.out_channels if self.bias else 0)

    def macs(self, out: Shape) -> int:
        return self.out_channels * (self.in_channels // self.groups) * self.kernel_size**2 * out.height * out.width


@dataclass(frozen=True)
class Norm:
    kind: str
    channels: int

    @property
    def params(self) -> int:
        return 2 * self.channels  # affine weight and bias; running stats are buffers

    def macs(self, out: Shape) -> int:
        return 0  # elementwise; reported apart from the mult-adds


@dataclass(frozen=True)
class Act(_Free):
    kind: str


@dataclass(frozen=True)
class Pool(_Free):
    kind: str
    kernel_size: int
    stride: int
    padding: int

    def out_size(self, size: int) -> int:
        return (size + 2 * self.padding - self.kernel_size) // self.stride + 1


@dataclass(frozen=True)
class GlobalPool(_Free):
    kind: str


@dataclass(frozen=True)
class Flatten(_Free):
    """Flatten all but the batch dimension."""


@dataclass(frozen=True)
class Dropout(_Free):
    p: float


@dataclass(frozen=True)
class Linear:
    in_features: int
    out_features: int
    bias: bool = True

    @property
    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)

    def macs(self, out: Shape) -> int:
        return self.in_features * self.out_features


Op = Conv | Norm | Act | Pool | GlobalPool | Flatten | Dropout | Linear


@dataclass(frozen=True)
class Layer:
    """One primitive with its name (the module's attribute name) and per-sample shapes."""

    name: str
    op: Op
    in_shape: Shape
    out_shape: Shape


@dataclass(frozen=True)
class Block:
    """A residual block: out = post(main(x) + shortcut(x)); an empty shortcut is the identity."""

    kind: str
    in_shape: Shape
    out_shape: Shape
    main: tuple[Layer, ...]
    shortcut: tuple[Layer, ...]
    post: tuple[Layer, ...]

    @property
    def layers(self) -> Iterator[tuple[str, Layer]]:
        for part, layers in (("main", self.main), ("shortcut", self.shortcut), ("post", self.post)):
            for layer in layers:
                yield f"{part}.{layer.name}", layer


@dataclass(frozen=True)
class Stage:
    name: str
    blocks: tuple[Block, ...]
    in_shape: Shape
    out_shape: Shape


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


class _Chain:
    """Appends primitives while carrying the current shape along (the builder's `in_channels`)."""

    def __init__(self, shape: Shape, loc: Loc) -> None:
        self.shape = shape
        self.loc = loc
        self.layers: list[Layer] = []

    def add(self, name: str, op: Op, loc: Loc | None = None) -> None:
        shape = self.shape
        if isinstance(op, Conv | Pool):
            height, width = op.out_size(shape.height), op.out_size(shape.width)
            if height < 1 or width < 1:
                raise PlanError(
                    loc or self.loc,
                    f"feature map shrinks below 1x1 ({shape.height}x{shape.width} in, kernel {op.kernel_size}, "
                    f"stride {op.stride}, padding {op.padding}); use a larger input, a smaller kernel or more padding",
                )
            channels = op.out_channels if isinstance(op, Conv) else shape.channels
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

    def conv_norm_act(
        self,
        suffix: str,
        out_channels: int,
        kernel_size: int,
        stride: int,
        padding: int,
        bias: bool,
        norm: str,
        activation: str | None,
        loc: Loc | None = None,
    ) -> None:
        conv = Conv(self.shape.channels, out_channels, kernel_size, stride, padding, bias)
        self.add(f"conv{suffix}", conv, loc)
        if norm != "none":
            self.add(f"norm{suffix}", Norm(norm, out_channels))
        if activation is not None:
            self.add(f"act{suffix}", Act(activation))


def lower(spec: ResNetSpec) -> Plan:
    """Lower a validated spec into its plan; raises PlanError for impossible shapes."""
    shape = Shape(spec.input.channels, spec.input.height, spec.input.width)
    stem = _Chain(shape, ("stem",))
    s = spec.stem
    stem.conv_norm_act(
        "", s.channels, s.kernel_size, s.stride, s.resolved_padding, s.conv_bias, s.norm, s.activation,
        ("stem", "kernel_size"),
    )  # fmt: skip
    if s.pool is not None:
        p = s.pool
        stem.add("pool", Pool(p.kind, p.kernel_size, p.stride, p.padding), ("stem", "pool"))
    shape = stem.shape

    stages = []
    for index, stage_spec in enumerate(spec.stages):
        blocks = []
        stage_in = shape
        for position in range(stage_spec.blocks):
            block = _lower_block(stage_spec, index, position, shape)
            blocks.append(block)
            shape = block.out_shape
        stages.append(Stage(f"stage{index + 1}", tuple(blocks), stage_in, shape))

    head = _Chain(shape, ("head",))
    head.add("pool", GlobalPool(spec.head.pool))
    head.add("flatten", Flatten())
    if spec.head.dropout > 0:
        head.add("dropout", Dropout(spec.head.dropout))
    head.add("fc", Linear(shape.channels, spec.head.num_classes))
    return Plan(spec.name, Shape(spec.input.channels, spec.input.height, spec.input.width),
                tuple(stem.layers), tuple(stages), tuple(head.layers))  # fmt: skip


def _lower_block(stage: StageSpec, index: int, position: int, shape: Shape) -> Block:
    spec = stage.block
    stride = stage.stride if position == 0 else 1
    loc: Loc = ("stages", index, "stride")
    main = _Chain(shape, loc)
    if spec.kind == "basic":
        _basic_branch(main, spec, stage.channels, stride)
    else:
        _bottleneck_branch(main, spec, stage.channels, stride)
    out_shape = main.shape

    shortcut = _Chain(shape, loc)
    projects = out_shape != shape or (spec.shortcut.when == "stage_start" and position == 0 and index > 0)
    if projects:
        if spec.shortcut.kind == "conv":
            shortcut.add("conv", Conv(shape.channels, stage.channels, 1, stride, 0, bias=True))
        else:
            shortcut.conv_norm_act("", stage.channels, 1, stride, 0, False, spec.norm, None)
    post = _Chain(out_shape, loc)
    post.add("act", Act(spec.activation))
    return Block(spec.kind, shape, out_shape, tuple(main.layers), tuple(shortcut.layers), tuple(post.layers))


def _basic_branch(chain: _Chain, spec: BasicBlockSpec, channels: int, stride: int) -> None:
    # (C, H, W) -> (channels, H/stride, W/stride)
    chain.conv_norm_act("1", channels, 3, stride, 1, spec.conv_bias, spec.norm, spec.activation)
    chain.conv_norm_act("2", channels, 3, 1, 1, spec.conv_bias, spec.norm, None)


def _bottleneck_branch(chain: _Chain, spec: BottleneckBlockSpec, channels: int, stride: int) -> None:
    # Stride on the 3x3 conv, as torchvision's "ResNet v1.5".
    width = channels // spec.expansion
    chain.conv_norm_act("1", width, 1, 1, 0, spec.conv_bias, spec.norm, spec.activation)
    chain.conv_norm_act("2", width, 3, stride, 1, spec.conv_bias, spec.norm, spec.activation)
    chain.conv_norm_act("3", channels, 1, 1, 0, spec.conv_bias, spec.norm, None)
