"""The properties every spec must have, checked on a built model; what `archspec check` runs on the
variants of a spec (archspec.testing.variants_of), and what a user's own property tests can call:

    from hypothesis import given, settings
    from archspec.testing import variants_of
    from archspec.testing.properties import check_properties

    @settings(max_examples=20, deadline=None)
    @given(variants_of(archspec.load_spec("my-variant.yaml")))
    def test_my_family(spec):
        check_properties(spec)

Each property compares the built torch model with what the spec and its plan say: a disagreement is a bug
in a block kind's lowering or its module (or in archspec), never in the user's spec, which validated.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torchinfo
from hypothesis import HealthCheck, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from torch import nn

from archspec.arch.complexity import complexity
from archspec.arch.plan import Shape, lower
from archspec.arch.validate import spec_from_text
from archspec.nn.build import build
from archspec.nn.layers import make_layer
from archspec.spec import kinds
from archspec.spec.io import dump_spec
from archspec.spec.schema import ResNetSpec
from archspec.testing.strategies import variants_of

BATCH = 2  # batch norm in training needs more than one value per channel


class PropertyFailure(AssertionError):
    """A property a spec does not have: `name` says which, the message what differed."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name
        self.detail = detail


def _stage_outputs(model: nn.Module, x: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
    for name, part in model.named_children():
        x = part(x)
        yield name, x


def check_properties(spec: ResNetSpec, batch: int = BATCH) -> None:
    """Raise PropertyFailure naming the first property `spec`'s built model lacks:

    - `round trip`: load(dump(spec)) == spec;
    - `output shape`: logits are (batch, num_classes);
    - `stage shapes`: every stage's output is the shape the plan predicts;
    - `finite`: the forward pass and the gradients of a backward pass are finite;
    - `params` and `mult-adds`: the analytic figures (archspec complexity) equal torchinfo's on the model;
    - `plugin primitives` (where the plan has a plugin's primitive): see `check_primitive`.
    """
    text = dump_spec(spec)
    if spec_from_text(text) != spec:
        raise PropertyFailure("round trip", "loading the dumped YAML gives another spec")
    plan = lower(spec)
    torch.manual_seed(0)
    model = build(spec).train()
    x = torch.randn(batch, spec.input.channels, spec.input.height, spec.input.width, requires_grad=True)
    expected = {stage.name: stage.out_shape for stage in plan.stages}
    logits = x
    for name, out in _stage_outputs(model, x):
        logits = out
        if name in expected:
            shape = expected[name]
            want = (batch, shape.channels, shape.height, shape.width)
            if tuple(out.shape) != want:
                raise PropertyFailure("stage shapes", f"{name} gives {tuple(out.shape)}, the plan says {want}")
    if tuple(logits.shape) != (batch, spec.head.num_classes):
        raise PropertyFailure(
            "output shape", f"logits {tuple(logits.shape)}, expected {(batch, spec.head.num_classes)}"
        )
    if not torch.isfinite(logits).all():
        raise PropertyFailure("finite", "the forward pass gives non-finite logits")
    logits.square().mean().backward()  # type: ignore[no-untyped-call]
    grads = [x.grad, *(p.grad for p in model.parameters() if p.grad is not None)]
    if not all(g is not None and torch.isfinite(g).all() for g in grads):
        raise PropertyFailure("finite", "the backward pass gives non-finite gradients")
    checked: set[tuple[Any, Shape]] = set()
    for path, layer in plan.layers():
        kind = kinds.primitive_kind(type(layer.op))
        if kind is not None and kind.package != kinds.ARCHSPEC and (layer.op, layer.in_shape) not in checked:
            checked.add((layer.op, layer.in_shape))
            check_primitive(layer.op, layer.in_shape, batch, where=path)
    report = complexity(spec, batch_size=batch)
    size = (batch, spec.input.channels, spec.input.height, spec.input.width)
    stats = torchinfo.summary(model, input_size=size, verbose=0, device="cpu")
    if report.params != stats.total_params:
        raise PropertyFailure(
            "params", f"archspec counts {report.params:,}, the built model has {stats.total_params:,}"
        )
    if report.torchinfo_mult_adds != stats.total_mult_adds:
        raise PropertyFailure("mult-adds", f"archspec counts {report.torchinfo_mult_adds:,} (torchinfo's convention), "
                              f"torchinfo {stats.total_mult_adds:,}")  # fmt: skip


PROPERTIES = ("round trip", "output shape", "stage shapes", "finite", "params", "mult-adds")
PLUGIN_PROPERTY = "plugin primitives"


def properties_of(spec: ResNetSpec) -> tuple[str, ...]:
    """The properties `check_properties` checks on `spec`: PROPERTIES, and the plugin primitives' where it has any."""
    plugins = any(_plugin_kind(layer.op) is not None for _, layer in lower(spec).layers())
    return (*PROPERTIES, PLUGIN_PROPERTY) if plugins else PROPERTIES


def _plugin_kind(op: Any) -> kinds.Kind | None:
    kind = kinds.primitive_kind(type(op))
    return kind if kind is not None and kind.package != kinds.ARCHSPEC else None


def hook_macs(module: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of the convolution and linear weights `module` applies to `x`, per sample, counted by
    forward hooks on its convolutions and linear layers (the convention of `archspec complexity`)."""
    total = 0

    def count(layer: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        positions = output.numel() // output.shape[0]
        if isinstance(layer, nn.modules.conv._ConvNd):
            total += (
                positions
                // layer.out_channels
                * layer.out_channels
                * (layer.in_channels // layer.groups)
                * (math.prod(layer.kernel_size))
            )
        elif isinstance(layer, nn.Linear):
            total += positions * layer.in_features

    handles = [
        m.register_forward_hook(count) for m in module.modules() if isinstance(m, nn.modules.conv._ConvNd | nn.Linear)
    ]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    return total


def check_primitive(op: Any, in_shape: Shape, batch: int = BATCH, where: str = "") -> None:
    """Raise PropertyFailure("plugin primitives") naming the plugin if primitive `op`'s analytic figures disagree
    with its torch module at input `in_shape`: output shape, parameters (torchinfo's count), MACs (a forward-hook
    count over its convolutions and linear layers) and torchinfo's mult-adds."""
    kind = kinds.primitive_kind(type(op))
    name = f"{kind.name} (plugin {kind.package})" if kind else type(op).__name__
    at = f" at {where}" if where else ""
    torch.manual_seed(0)
    module = make_layer(op).train()
    x = torch.randn(batch, in_shape.channels, in_shape.height, in_shape.width)
    out = op.out_shape(in_shape)

    def disagree(what: str, analytic: int, measured: int, how: str) -> None:
        if analytic != measured:
            raise PropertyFailure(PLUGIN_PROPERTY, f"{name}{at} ({in_shape} in): analytic {what} {analytic:,}, "
                                  f"its torch module {measured:,} ({how})")  # fmt: skip

    with torch.no_grad():
        y = module(x)
    want = (batch, out.channels, out.height, out.width)
    if tuple(y.shape) != want:
        raise PropertyFailure(PLUGIN_PROPERTY, f"{name}{at} ({in_shape} in): out_shape says {want[1:]}, its torch "
                              f"module gives {tuple(y.shape)[1:]}")  # fmt: skip
    stats = torchinfo.summary(module, input_data=x, verbose=0, device="cpu")
    disagree("params", op.params, stats.total_params, "torchinfo")
    disagree("MACs", op.macs(out), hook_macs(module, x), "forward hooks on its convs and linears")
    disagree("torchinfo mult-adds", op.torchinfo_mult_adds(out) * batch, stats.total_mult_adds, "torchinfo")


@dataclass(frozen=True)
class CheckResult:
    examples: int  # variants checked
    failure: PropertyFailure | None = None
    counterexample: ResNetSpec | None = None  # the shrunk failing variant

    @property
    def ok(self) -> bool:
        return self.failure is None


def check_variants(
    spec: ResNetSpec,
    examples: int = 20,
    seed: int = 0,
    check: Callable[[ResNetSpec], None] = check_properties,
    **bounds: Any,
) -> CheckResult:
    """Run `check` (the shipped properties) on `examples` variants of `spec` (variants_of(spec, **bounds)),
    reproducibly for `seed`; a failure is shrunk by hypothesis to the simplest failing variant."""
    failures: list[tuple[ResNetSpec, PropertyFailure]] = []
    count = 0

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, report_multiple_bugs=False,
              verbosity=Verbosity.quiet, suppress_health_check=list(HealthCheck), print_blob=False)  # fmt: skip
    @given(variants_of(spec, **bounds))
    def run(variant: ResNetSpec) -> None:
        nonlocal count
        count += 1
        try:
            check(variant)
        except PropertyFailure as failure:
            failures.append((variant, failure))  # the last one is hypothesis's replay of the shrunk example
            raise

    with contextlib.redirect_stdout(io.StringIO()):  # hypothesis's own report: we print the YAML instead
        try:
            run()
        except PropertyFailure:
            variant, failure = failures[-1]
            return CheckResult(count, failure, variant)
    return CheckResult(count)
