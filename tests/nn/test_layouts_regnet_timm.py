"""timm's RegNets (timm.models.regnet): each RegNet preset, given timm's weights through the timm layout, computes
timm's function in float64 (tests/weights/replay.py). A fixture `<preset>--<timm model>` names the timm model of
the same network: pycls's (regnetx_008, ...) where torchvision's rounding changes nothing, timm's `_tv` copy of
torchvision's where it does (regnetx_004_tv, regnety_008_tv, regnety_080_tv), and pycls's own for the `_pycls`
presets (regnetx_004, regnety_008, regnety_080).
"""

from __future__ import annotations

import pytest
from weights.replay import NAMES, computes_the_reference_function, fixture, has_the_reference_layout

TIMM = [name for name in NAMES if name.startswith("regnet") and "--" in name]
BIG = ("_16gf", "_32gf")


def test_every_regnet_preset_has_a_timm_fixture() -> None:
    assert len(TIMM) == 18 and all(fixture(n)["reference"].startswith("timm") for n in TIMM)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n.split("--")[0].endswith(BIG) else n for n in TIMM
             if fixture(n)["logits"]]
)  # fmt: skip
def test_regnet_computes_timms_function(name: str) -> None:
    computes_the_reference_function(name)


def test_regnet_y_128gf_has_timms_layout() -> None:
    has_the_reference_layout("regnet_y_128gf--regnety_1280")
