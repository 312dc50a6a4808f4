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
from archspec.nn.layouts import LayoutError, key_map
from archspec.nn.weights import export, load

CONVNEXT = [name for name in NAMES if name.startswith("convnext")]


def test_every_convnext_preset_has_a_torchvision_and_a_timm_fixture() -> None:
    sizes = ("convnext_base", "convnext_small", "convnext_tiny")
    assert [f"{size}{timm}" for size in sizes for timm in ("", "--timm")] == CONVNEXT
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


def test_a_channels_first_block_has_no_reference_counterpart() -> None:
    """timm's conv_mlp form holds 1x1 convs where the references' default holds linear layers: not the layout."""
    spec = resolve_spec("convnext_tiny", ["block.channels_last=false"]).model
    with pytest.raises(LayoutError, match=r"stage1\.0\.main\.conv2 \(1x1 conv with bias\) has no counterpart"):
        key_map(spec, build(spec).state_dict(), "torchvision").require_complete()
