"""Replaying a reference fixture on an archspec preset: what tests/nn/test_layouts*.py check for each fixture.

`computes_the_reference_function`: the reference's state dict (the fixture's keys and shapes, each filled by
`fill(reference_key, shape)`) imported through the layout's key map, run in float64, gives the reference's golden
logits and stage shapes, and exports back to the reference's keys and shapes in its order.
`has_the_reference_layout`: the same keys and stage shapes on the meta device, for a fixture without logits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from weights.fill import fill, input_batch

from archspec.arch.validate import resolve_spec, with_input
from archspec.nn.build import build
from archspec.nn.weights import export, load
from archspec.spec.schema import ResNetSpec

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def reference_state(ref: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The reference's state dict with the fixture's fill, named and shaped as the reference has it."""
    return {key: torch.zeros((), dtype=torch.long) if key.endswith("num_batches_tracked") else fill(key, tuple(shape))
            for key, shape in ref["state_dict"]}  # fmt: skip


def fixture_spec(name: str, ref: dict[str, Any]) -> ResNetSpec:
    """The archspec network of a fixture: its preset (`spec`, else its name) with its `sets`, at its input size."""
    spec = resolve_spec(ref.get("spec", name), ref.get("sets", [])).model
    return with_input(spec, *ref["input"][1:])


def _record_shapes(model: nn.Module) -> dict[str, list[int]]:
    shapes: dict[str, list[int]] = {}
    for part in ["stem", *(f"stage{i}" for i in range(1, 5))]:
        model.get_submodule(part).register_forward_hook(
            lambda _m, _i, out, part=part: shapes.__setitem__(part, list(out.shape[1:]))
        )
    return shapes


def computes_the_reference_function(name: str) -> None:
    ref = fixture(name)
    layout = ref["reference"].split()[0]  # "torchvision 0.28.0", "timm 1.0.31", "d2l (...)"
    spec = fixture_spec(name, ref)
    with torch.device("meta"):  # no initialisation: every tensor is loaded (strict) below
        model = build(spec).double()
    model = model.to_empty(device="cpu").eval()
    report = load(model, reference_state(ref), spec, layout, strict=True)
    assert not report.missing and not report.skipped

    shapes = _record_shapes(model)
    with torch.no_grad():
        logits = model(input_batch(*ref["input"][1:]))
    assert shapes == ref["stage_shapes"]
    expected = torch.tensor(ref["logits"], dtype=torch.float64)
    # relative 1e-6 against the logits' scale: a logit near zero has no meaningful per-element relative error
    torch.testing.assert_close(logits, expected, rtol=1e-6, atol=1e-6 * expected.abs().max().item())

    exported = export(model, spec, layout)
    assert [[key, list(value.shape)] for key, value in exported.items()] == ref["state_dict"]


def has_the_reference_layout(name: str) -> None:
    ref = fixture(name)
    layout = ref["reference"].split()[0]
    spec = fixture_spec(name, ref)
    with torch.device("meta"):
        model = build(spec).double().eval()
        shapes = _record_shapes(model)
        model(torch.empty(ref["input"], dtype=torch.float64))
    assert shapes == ref["stage_shapes"]
    exported = export(model, spec, layout)
    assert [[key, list(value.shape)] for key, value in exported.items()] == ref["state_dict"]
