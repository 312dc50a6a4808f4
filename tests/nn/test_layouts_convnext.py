"""ConvNeXt (torchvision.models.convnext, timm.models.convnext): each convnext preset, given torchvision's or timm's
weights through that layout, computes the reference's function in float64 and exports its weights back under the
reference's names, shapes and order (tests/weights/replay.py); a round trip through either layout is bit for bit.
"""

from __future__ import annotations

import pytest
import torch
from weights.replay import NAMES, computes_the_reference_function, fixture, reference_state

from archspec.arch.validate import load_spec, resolve_spec, with_input
from archspec.nn.build import build
from archspec.nn.layouts import key_map
from archspec.nn.weights import export, load

CONVNEXT = [name for name in NAMES if name.startswith("convnext")]


def test_every_convnext_preset_has_a_torchvision_and_a_timm_fixture() -> None:
    sizes = ("convnext_base", "convnext_small", "convnext_tiny")
    expected = [f"{size}{timm}" for size in sizes for timm in ("", "--timm")]
    assert sorted([*expected, "convnext_tiny--timm-conv_mlp"]) == CONVNEXT  # and timm's conv_mlp form
    assert all(fixture(n)["reference"].startswith("timm" if "--" in n else "torchvision") for n in CONVNEXT)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if "base" in n else n for n in CONVNEXT])
def test_convnext_computes_the_references_function(name: str) -> None:
    computes_the_reference_function(name)


@pytest.mark.parametrize("layout", ["torchvision", "timm"])
def test_weights_round_trip_bit_for_bit(layout: str) -> None:
    name = "convnext_tiny" + ("--timm" if layout == "timm" else "")
    ref = fixture(name)
    spec = with_input(load_spec("convnext_tiny"), *ref["input"][1:])
    state = reference_state(ref)
    model = build(spec).double()
    load(model, state, spec, layout, strict=True)
    again = export(model, spec, layout)
    assert list(again) == list(state)
    assert all(torch.equal(again[key], state[key]) for key in state)


def test_layer_scale_takes_each_references_own_name_and_shape() -> None:
    spec = load_spec("convnext_tiny")
    state = build(spec).state_dict()
    tv = {p.name: (p.reference, p.reference_shape) for p in key_map(spec, state, "torchvision").pairs}
    timm = {p.name: (p.reference, p.reference_shape) for p in key_map(spec, state, "timm").pairs}
    assert tv["stage1.0.main.layer_scale.weight"] == ("features.1.0.layer_scale", (96, 1, 1))
    assert timm["stage1.0.main.layer_scale.weight"] == ("stages.0.blocks.0.gamma", (96,))
    assert tv["stage2.downsample.conv.weight"][0] == "features.2.1.weight"
    assert timm["stage4.downsample.norm.bias"][0] == "stages.3.downsample.0.bias"
    assert tv["head.norm.weight"][0] == "classifier.0.weight" and timm["head.fc.bias"][0] == "head.fc.bias"


def test_a_channels_first_block_takes_torchvision_weights_as_linear_layers_and_computes_the_same_function() -> None:
    """timm's conv_mlp form (1x1 convs, a channels-first norm) is the same function as the channels-last block:
    given torchvision's weights, whose 1x1 layers are linear (out, in), it gives the channels-last model's logits,
    and exports them back as linear layers (its timm layout, 1x1 convs, is checked against timm's fixture)."""
    ref = fixture("convnext_tiny")
    last = with_input(load_spec("convnext_tiny"), *ref["input"][1:])
    first = with_input(resolve_spec("convnext_tiny", ["block.channels_last=false"]).model, *ref["input"][1:])
    state = reference_state(ref)
    models = [build(spec).double().eval() for spec in (last, first)]
    for model, spec in zip(models, (last, first), strict=True):
        load(model, state, spec, "torchvision", strict=True)
    x = torch.randn(2, *ref["input"][1:], dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(models[1](x), models[0](x), rtol=1e-9, atol=1e-9)
    pairs = {p.name: p for p in key_map(first, models[1].state_dict(), "torchvision").require_complete().pairs}
    fc1 = pairs["stage1.0.main.conv2.weight"]
    assert (fc1.reference, fc1.shape, fc1.reference_shape) == ("features.1.0.block.3.weight", (384, 96, 1, 1),
                                                               (384, 96))  # fmt: skip
    again = export(models[1], first, "torchvision")
    assert list(again) == list(state) and all(torch.equal(again[key], state[key]) for key in state)
