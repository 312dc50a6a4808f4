"""What a spec costs, from its plan alone: parameters, mult-adds, activation memory, shapes.

No torch import and no per-block formulas: every figure is added up from the plan's
primitives, the same ones the builder turns into modules. Units are named everywhere:
MACs are multiply-accumulates of convolution and linear weights; FLOPs = 2 x MACs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from archspec.arch import plan as P
from archspec.arch.primitives import FP32_BYTES
from archspec.arch.validate import with_input
from archspec.spec.schema import ResNetSpec


@dataclass(frozen=True)
class LayerCost:
    """One primitive (or a block's residual addition) for a batch of `batch_size`."""

    path: str
    op: str
    output: tuple[int, int, int]
    params: int
    macs: int
    other_ops: int  # bias adds, norm, activation, pooling and residual-add element operations
    activation_bytes: int  # bytes this layer adds to what autograd keeps for the backward pass
    stride: int = 1  # cumulative stride at its output, in input pixels
    receptive_field: int = 1  # receptive field at its output along the main path, in input pixels
    torchinfo: int = 0  # what torchinfo counts as its mult-adds (the primitive's rule); not in the JSON report

    @property
    def flops(self) -> int:
        return 2 * self.macs


@dataclass(frozen=True)
class StageCost:
    """The stem, one stage, or the head, with cumulative stride and receptive field at its output."""

    name: str
    output: tuple[int, int, int]
    params: int
    macs: int
    activation_bytes: int
    stride: int
    receptive_field: int

    @property
    def flops(self) -> int:
        return 2 * self.macs


class _PerImage:
    """The per-image and per-batch names of a report's whole-network figures (`macs`, `flops`, `other_ops` and
    `activation_bytes` are the batch's totals)."""

    if TYPE_CHECKING:  # a field or a property of each report (at runtime a dataclass would take them as defaults)
        batch_size: int

        @property
        def macs(self) -> int: ...

        @property
        def activation_bytes(self) -> int: ...

    @property
    def macs_per_batch(self) -> int:
        return self.macs

    @property
    def macs_per_image(self) -> int:
        return self.macs // self.batch_size  # exact: every MAC is done once per image

    @property
    def flops_per_batch(self) -> int:
        return 2 * self.macs

    @property
    def flops_per_image(self) -> int:
        return 2 * self.macs_per_image

    @property
    def activation_bytes_per_batch(self) -> int:
        """What autograd keeps for the batch. Not divided per image: a part (per-channel statistics) does not
        grow with the batch; `complexity(spec, batch_size=1)` gives one image's."""
        return self.activation_bytes


@dataclass(frozen=True)
class Complexity(_PerImage):
    """The cost report of a spec for a batch of `batch_size` images.

    `params` is the network's, whatever the batch. `macs`, `flops`, `other_ops` and `activation_bytes` (and
    each layer's and stage's) are the whole batch's: `complexity(spec, batch_size=8).macs` is 8 images' MACs.
    By name: `macs_per_image` / `macs_per_batch`, `flops_per_image` / `flops_per_batch`,
    `activation_bytes_per_batch`."""

    name: str
    input: tuple[int, int, int]
    batch_size: int
    layers: tuple[LayerCost, ...]
    stages: tuple[StageCost, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def other_ops(self) -> int:
        return sum(layer.other_ops for layer in self.layers)

    @property
    def activation_bytes(self) -> int:
        return sum(layer.activation_bytes for layer in self.layers)

    @property
    def largest(self) -> int:
        """Elements of the largest tensor one sample passes through, the input included."""
        return max(math.prod(self.input), *(math.prod(layer.output) for layer in self.layers))

    def totals(self) -> Totals:
        return Totals(self.name, self.input, self.batch_size, self.params, self.macs, self.activation_bytes,
                      self.largest)  # fmt: skip

    @property
    def torchinfo_mult_adds(self) -> int:
        """The figure torchinfo (1.8) reports as "Total mult-adds".

        torchinfo counts, per module with parameters: for a convolution, (weight + bias elements) x
        output positions; for anything else (batch norm, linear), its parameter count, each times
        the batch size. So it adds conv bias adds and 2 x channels per batch norm to the true MACs. Each
        primitive says its own figure (`Primitive.torchinfo_mult_adds`).
        """
        return sum(layer.torchinfo for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON report (docs/complexity.md)."""
        return {
            "name": self.name,
            "input": list(self.input),
            "batch_size": self.batch_size,
            "units": {"macs": "multiply-accumulates", "flops": "2 x macs", "activation_bytes": "bytes, fp32"},
            "total": {
                "params": self.params,
                "macs": self.macs,
                "flops": self.flops,
                "other_ops": self.other_ops,
                "activation_bytes": self.activation_bytes,
            },
            "stages": [{**asdict(stage), "output": list(stage.output), "flops": stage.flops} for stage in self.stages],
            # vars(), not asdict(): the fields are plain values, and asdict's deep copy is slow for 10^4 layers
            "layers": [
                {**_public(vars(layer)), "output": list(layer.output), "flops": layer.flops} for layer in self.layers
            ],
            "warnings": list(self.warnings),
        }


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "torchinfo"}


@dataclass(frozen=True)
class Totals(_PerImage):
    """A spec's whole-network figures for a batch of `batch_size`, from its outline: what the resource guard
    reads, known at once however many blocks the spec has. Equal to the `Complexity` report's totals (`macs`
    and `activation_bytes` for the whole batch; `macs_per_image` for one image)."""

    name: str
    input: tuple[int, int, int]
    batch_size: int
    params: int
    macs: int
    activation_bytes: int
    largest: int  # elements of the largest tensor one sample passes through, the input included


def complexity(spec: ResNetSpec, input_size: tuple[int, int, int] | None = None, batch_size: int = 1) -> Complexity:
    """The cost report of `spec` (at `input_size` = (C, H, W) if given) for a batch of `batch_size` images: its
    `macs`, `flops` and `activation_bytes` are the batch's totals, `macs_per_image` one image's (see
    `Complexity`)."""
    if input_size is not None:
        spec = with_input(spec, *input_size)
    return plan_complexity(P.lower(spec), batch_size)


def totals(spec: ResNetSpec, input_size: tuple[int, int, int] | None = None, batch_size: int = 1) -> Totals:
    """The totals of `complexity(spec, ...)`, computed from the outline: each stage's repeated blocks are
    costed once and counted, so this is instant for any spec the schema admits."""
    if input_size is not None:
        spec = with_input(spec, *input_size)
    return outline_totals(P.outline(spec), batch_size)


def outline_totals(outline: P.Outline, batch_size: int = 1) -> Totals:
    account = _Account(batch_size)
    account.chain(outline.stem, "stem")
    sums = [0, 0, 0]  # params, macs, activation bytes
    for stage in outline.stages:
        start = len(account.rows)
        account.chain(stage.downsample, f"{stage.name}.downsample")
        for cost in account.rows[start:]:
            sums[0] += cost.params
            sums[1] += cost.macs
            sums[2] += cost.activation_bytes
        for run in stage.runs:
            # every block of a run meets the same memory state (its input saved or not alike), so costs once
            costs = account.block(run.block, stage.name)
            for cost in costs:
                sums[0] += run.count * cost.params
                sums[1] += run.count * cost.macs
                sums[2] += run.count * cost.activation_bytes
    account.chain(outline.head, "head")
    rest = [cost for cost in account.rows if not cost.path.startswith("stage")]
    largest = max(outline.input_shape.numel, *(math.prod(cost.output) for cost in account.rows))
    return Totals(outline.name, _dims(outline.input_shape), batch_size,
                  sums[0] + sum(c.params for c in rest), sums[1] + sum(c.macs for c in rest),
                  sums[2] + sum(c.activation_bytes for c in rest), largest)  # fmt: skip


def plan_complexity(plan: P.Plan, batch_size: int = 1) -> Complexity:
    account = _Account(batch_size)
    layers = account.rows
    stages: list[StageCost] = []

    def close(name: str, start: int, shape: P.Shape) -> None:
        part, field_ = layers[start:], account.field
        stages.append(StageCost(name, _dims(shape), sum(c.params for c in part), sum(c.macs for c in part),
                                sum(c.activation_bytes for c in part), field_.jump, field_.size))  # fmt: skip

    account.chain(plan.stem, "stem")
    close("stem", 0, plan.stem[-1].out_shape)
    for stage in plan.stages:
        start = len(layers)
        account.chain(stage.downsample, f"{stage.name}.downsample")
        for block in stage.blocks:
            account.block(block, stage.name)
        close(stage.name, start, stage.out_shape)
    start = len(layers)
    account.chain(plan.head, "head")
    close("head", start, plan.output_shape)
    return Complexity(plan.name, _dims(plan.input_shape), batch_size, tuple(layers), tuple(stages),
                      tuple(plan_warnings(plan)))  # fmt: skip


class _Account:
    """Walks primitives in order, adding up each one's costs (one LayerCost row each) with the memory
    each keeps (each kept tensor counted once) and the receptive field and stride at its output."""

    def __init__(self, batch_size: int) -> None:
        self.batch = batch_size
        self.memory = _Memory(batch_size)
        self.field = _ReceptiveField()
        self.rows: list[LayerCost] = []
        self.x = self.memory.new()
        self.blocks: dict[str, int] = {}

    def chain(self, layers: Iterable[P.Layer], prefix: str) -> None:
        self.x = self._run(layers, prefix, self.x, follow=True)

    def block(self, block: P.Block, stage: str) -> list[LayerCost]:
        """One block's rows (appended to `rows`); out = post(main(pre(x)) + shortcut(pre(x)))."""
        index = self.blocks.get(stage, 0)
        self.blocks[stage] = index + 1
        prefix, start = f"{stage}.{index}", len(self.rows)
        # pre-activation: pre(x) feeds the branch and a projecting shortcut; its ReLU is not in place
        pre = self._run(block.pre, f"{prefix}.pre", self.x, in_place=False, follow=True)
        self._run(block.main, f"{prefix}.main", pre, follow=True)
        at = (self.field.jump, self.field.size)
        self._run(block.shortcut, f"{prefix}.shortcut", pre, follow=False)
        # the addition reads both and keeps neither
        numel = block.out_shape.numel * self.batch
        self.rows.append(LayerCost(f"{prefix}.add", "add", _dims(block.out_shape), 0, 0, numel, 0, *at))
        self.x = self._run(block.post, f"{prefix}.post", self.memory.new(), follow=True)
        return self.rows[start:]

    def _run(self, layers: Iterable[P.Layer], prefix: str, x: int, in_place: bool = True, follow: bool = True) -> int:
        """`follow`: the layers are on the main path (the receptive field grows through them); a shortcut's
        rows show the field and stride of the branch beside them."""
        memory, batch = self.memory, self.batch
        for layer in layers:
            op, shape = layer.op, layer.out_shape
            rule = op.kept(shape)
            y = x if rule.view or (rule.in_place and in_place) else memory.new()
            kept = rule.fixed_bytes + rule.bytes_per_sample * batch
            if rule.saves_input:
                copied = rule.copies_strided_input and memory.is_permuted(x)
                kept += memory.save(memory.new() if copied else x, layer.in_shape)
            if rule.saves_output:
                kept += memory.save(y, shape)
            if rule.permutes is not None:
                memory.set_permuted(y, rule.permutes)
            elif y != x:
                memory.set_permuted(y, rule.keeps_strides and memory.is_permuted(x))
            if follow:
                self.field.follow((op,))
            self.rows.append(LayerCost(f"{prefix}.{layer.name}", op.op_name, _dims(shape), op.params,
                                       op.macs(shape) * batch, op.other_ops(shape) * batch, kept,
                                       self.field.jump, self.field.size,
                                       op.torchinfo_mult_adds(shape) * batch))  # fmt: skip
            x = y
        return x


def plan_warnings(plan: P.Plan) -> list[str]:
    """Legal but suspicious shapes: collapsed feature maps, strides that drop pixels."""
    out = []
    for index, stage in enumerate(plan.stages):
        height, width = stage.in_shape.height, stage.in_shape.width
        stride = stage.stride
        where = f"stages[{index}] ({stage.name})"
        if stage.out_shape.height == 1 and stage.out_shape.width == 1:
            size = f"{plan.input_shape.height}x{plan.input_shape.width}"
            out.append(f"{where}: feature map is 1x1 at input {size}; its 3x3 convs see mostly padding")
        elif stride > 1 and (height % stride or width % stride):
            out.append(f"{where}: {height}x{width} is not divisible by its stride {stride}; the strided path "
                       "drops the last row/column")  # fmt: skip
    return out


def _dims(shape: P.Shape) -> tuple[int, int, int]:
    return (shape.channels, shape.height, shape.width)


# --- activation memory ------------------------------------------------------------------------
# What PyTorch's autograd keeps for backward: each primitive's rule (primitives.Kept), added up. A tensor
# kept by two layers (a ReLU's output that the next conv also needs) is counted once, as autograd keeps
# it once. tests/test_complexity.py checks these rules against saved_tensors_hooks.


class _Memory:
    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.next_id = 0
        self.saved: set[int] = set()
        self.permuted: set[int] = set()  # tensors that are (N, H, W, C) views of (N, C, H, W) memory

    def is_permuted(self, tensor: int) -> bool:
        return tensor in self.permuted

    def set_permuted(self, tensor: int, permuted: bool) -> None:
        (self.permuted.add if permuted else self.permuted.discard)(tensor)

    def new(self) -> int:
        self.next_id += 1
        return self.next_id

    def save(self, tensor: int, shape: P.Shape) -> int:
        if tensor in self.saved:
            return 0
        self.saved.add(tensor)
        return shape.numel * self.batch_size * FP32_BYTES


# --- receptive field --------------------------------------------------------------------------


class _ReceptiveField:
    """Receptive field and cumulative stride along the main path (shortcuts are 1x1, never wider)."""

    def __init__(self) -> None:
        self.size = 1
        self.jump = 1

    def follow(self, ops: Iterable[P.Op]) -> None:
        for op in ops:
            self.size, self.jump = op.receptive(self.size, self.jump)
