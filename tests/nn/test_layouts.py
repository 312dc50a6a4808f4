"""Weight layouts prove structure: each preset, given the reference's weights, computes the reference's function.

For every torchvision/timm ResNet preset and d2l's ResNet-18 (RegNets: test_layouts_regnet*.py), the
reference's state dict is rebuilt from the fixture (tests/weights/replay.py: its keys and shapes, each
filled by `fill(reference_key, shape)`), imported
through the layout's key map, and run in float64: the logits must equal the reference's golden logits
and every stage must output the reference's shape. A bottleneck stride on the wrong conv, a gate in
the wrong place or a projection reading the wrong tensor changes the logits, though no parameter count.
The export back must list the reference's keys and shapes in the reference's order.
"""

from __future__ import annotations

import pytest
from weights.replay import NAMES, computes_the_reference_function

from archspec.arch.validate import load_spec, spec_from_text
from archspec.errors import SpecError
from archspec.nn.build import build
from archspec.nn.layouts import LayoutError, get_layout, key_map, layout_names

# RegNets: test_layouts_regnet*.py; ConvNeXts: test_layouts_convnext.py
RESNETS = [name for name in NAMES if not name.startswith(("regnet", "convnext"))]
SLOW = {"resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2", "seresnet50", "resnetv2_50"}


def test_every_reference_has_a_fixture() -> None:
    assert len(RESNETS) == 12, RESNETS
    assert len(NAMES) == 12 + 15 + 18 + 7, NAMES  # and torchvision's RegNets and ConvNeXts, timm's too (and conv_mlp)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in RESNETS])
def test_preset_computes_the_reference_function(name: str) -> None:
    computes_the_reference_function(name)


@pytest.mark.parametrize(
    ("spec", "layout", "first"),
    [
        ("resnet50d", "torchvision", "stem.conv1 (3x3 conv) has no counterpart in the torchvision layout"),
        ("seresnet50", "torchvision", "stage1.0.main.squeeze_excite (squeeze-excite gate) has no counterpart"),
        ("resnetv2_50", "torchvision", "stage1.0.pre.norm1 (batch norm) has no counterpart"),
        ("d2l-resnet18", "torchvision", "stem.conv (7x7 conv with bias) has no counterpart in the torchvision "
         "layout (torchvision's convolutions have no bias)"),
        ("resnet50", "d2l", "stem.conv (7x7 conv) has no counterpart in the d2l layout (d2l's convolutions have a "
         "bias)"),
        ("cifar-resnet20", "timm", "stage2.0.shortcut.pad (zero-pad shortcut) has no counterpart in the timm layout"),
        ("resnet18d", "torchvision", "stem.conv1"),
        ("resnet50", "d2l", "stem.conv"),
    ],
)  # fmt: skip
def test_a_spec_the_layout_cannot_express_names_its_first_foreign_module(spec: str, layout: str, first: str) -> None:
    s = load_spec(spec)
    with pytest.raises(LayoutError) as caught:
        key_map(s, build(s).state_dict(), layout).require_complete()
    message = str(caught.value)
    assert message.startswith(f"{s.name}: ") and first in message and "\n" not in message


def test_any_torchvision_shaped_spec_has_a_torchvision_layout() -> None:
    """Not only the presets: a 3-stage net with a 3x3 stem still maps onto conv1, bn1, layerN, fc."""
    spec = load_spec("fashion-resnet")
    keys = key_map(spec, build(spec).state_dict(), "torchvision").require_complete()
    names = {pair.name: pair.reference for pair in keys.pairs}
    assert names["stem.conv.weight"] == "conv1.weight"
    assert names["stage3.0.shortcut.conv.weight"] == "layer3.0.downsample.0.weight"
    assert names["stage3.0.shortcut.norm.running_var"] == "layer3.0.downsample.1.running_var"
    assert names["head.fc.bias"] == "fc.bias"
    assert len(names) == len(build(spec).state_dict())


def test_timm_places_the_gate_and_an_added_stage_by_the_plan() -> None:
    """A variant no preset spells out: SE only in stage 4 of a 5-stage ResNet-D, still named as timm names it."""
    spec = spec_from_text(
        "{extends: resnet50d, name: five, stages: [{channels: 256, blocks: 1}, {channels: 512, blocks: 1, stride: 2},"
        " {channels: 1024, blocks: 1, stride: 2}, {channels: 2048, blocks: 2, stride: 2, block: {squeeze_excite: {}}},"
        " {channels: 2048, blocks: 1, stride: 1}]}"
    )
    names = {p.name: p.reference for p in key_map(spec, build(spec).state_dict(), "timm").require_complete().pairs}
    assert names["stage4.1.main.squeeze_excite.fc2.weight"] == "layer4.1.se.fc2.weight"
    assert names["stage5.0.main.conv3.weight"] == "layer5.0.conv3.weight"
    assert names["stage1.0.shortcut.conv.weight"] == "layer1.0.downsample.1.weight"  # avg shortcut, Identity pool
    assert "stage3.0.main.squeeze_excite.fc1.weight" not in names


def test_layout_names_come_from_the_registry() -> None:
    assert layout_names() == ("archspec", "torchvision", "timm", "d2l")
    with pytest.raises(SpecError, match="unknown layout 'keras'; choose from archspec, torchvision, timm, d2l"):
        get_layout("keras")
