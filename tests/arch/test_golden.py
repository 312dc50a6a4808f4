"""Golden parameter counts of every preset, from one JSON file (the one place they are checked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archspec import load_spec, lower, preset_names

GOLDEN_FILE = Path(__file__).parent / "golden_params.json"
GOLDEN: dict[str, int] = json.loads(GOLDEN_FILE.read_text())


def test_every_preset_has_a_golden_count() -> None:
    assert sorted(GOLDEN) == preset_names()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_parameter_count(name: str) -> None:
    # The built model's count equals the plan's for every preset: tests/nn/test_build.py.
    got = lower(load_spec(name)).params
    assert got == GOLDEN[name], (
        f"{name}: {got:,} parameters, golden {GOLDEN[name]:,}. The reference counts come from d2l "
        "(11,178,378) and torchvision/timm/He et al.; change tests/arch/golden_params.json (python "
        "tests/arch/golden.py) only if the preset was deliberately changed to another architecture, and say so "
        "in the commit."
    )
