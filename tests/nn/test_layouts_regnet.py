"""torchvision's RegNets (torchvision.models.regnet): each regnet_x/regnet_y preset, given torchvision's weights
through the torchvision layout, computes torchvision's function in float64 (tests/weights/replay.py).

regnet_y_128gf (645 M parameters, 5 GB in float64) is checked on the meta device: keys, shapes, stage shapes.
timm's copies of the same networks: test_layouts_regnet_timm.py (a file of its own, so the two run side by side).
"""

from __future__ import annotations

import pytest
from weights.replay import NAMES, computes_the_reference_function, fixture, has_the_reference_layout

from archspec.arch.validate import load_spec
from archspec.nn.build import build
from archspec.nn.layouts import key_map

TORCHVISION = [name for name in NAMES if name.startswith("regnet") and "--" not in name]
BIG = ("_16gf", "_32gf")


def test_every_torchvision_regnet_has_a_fixture() -> None:
    assert len(TORCHVISION) == 15 and all(fixture(n)["reference"].startswith("torchvision") for n in TORCHVISION)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n.endswith(BIG) else n for n in TORCHVISION
             if fixture(n)["logits"]]
)  # fmt: skip
def test_regnet_computes_torchvisions_function(name: str) -> None:
    computes_the_reference_function(name)


def test_regnet_y_128gf_has_torchvisions_layout() -> None:
    assert not fixture("regnet_y_128gf")["logits"]
    has_the_reference_layout("regnet_y_128gf")


def test_a_regnet_takes_regnet_names_and_a_resnet_keeps_its_own() -> None:
    spec = load_spec("regnet_y_400mf")
    names = {p.name: p.reference for p in key_map(spec, build(spec).state_dict(), "torchvision").pairs}
    assert names["stage2.0.main.squeeze_excite.fc1.weight"] == "trunk_output.block2.block2-0.f.se.fc1.weight"
    assert names["stage1.0.shortcut.norm.running_var"] == "trunk_output.block1.block1-0.proj.1.running_var"
    timm = {p.name: p.reference for p in key_map(spec, build(spec).state_dict(), "timm").pairs}
    assert timm["stage2.0.main.conv2.weight"] == "s2.b1.conv2.conv.weight" and timm["head.fc.bias"] == "head.fc.bias"
    resnext = load_spec("resnext50_32x4d")
    names = {p.name: p.reference for p in key_map(resnext, build(resnext).state_dict(), "torchvision").pairs}
    assert names["stage1.0.main.conv2.weight"] == "layer1.0.conv2.weight"
