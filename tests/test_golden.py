"""Golden parameter counts of every preset, from one JSON file."""

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
    import torch  # noqa: F401  (the count below is of the real model, not only the plan)

    from archspec import build

    spec = load_spec(name)
    analytic = lower(spec).params
    built = sum(p.numel() for p in build(spec).parameters())
    assert analytic == built, "plan and built model disagree: a block's lowering and its module drifted"
    assert built == GOLDEN[name], (
        f"{name}: {built:,} parameters, golden {GOLDEN[name]:,}. The reference counts come from d2l "
        "(11,178,378) and torchvision/timm/He et al.; change tests/golden_params.json only if the preset "
        "was deliberately changed to another architecture, and say so in the commit."
    )
