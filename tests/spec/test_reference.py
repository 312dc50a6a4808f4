"""Docs: the generated spec reference is current, and the guide's examples are valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archspec import load_spec, lower
from archspec.spec.reference import render

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "writing-variants.md"
# spec examples; sweep-*.yaml are sweep files (docs/sweeps.md, checked in tests/train/test_sweep_space.py)
EXAMPLES = sorted(p for p in (ROOT / "docs" / "examples").glob("*.yaml") if not p.name.startswith("sweep-"))


def test_spec_reference_is_current() -> None:
    current = (ROOT / "docs" / "spec-reference.md").read_text()
    stale = "docs/spec-reference.md is stale: regenerate it with `python -m archspec.spec.reference`"
    assert current == render(), stale


def test_the_guide_has_three_worked_examples() -> None:
    linked = set(re.findall(r"\]\((examples/[^)]+\.yaml)\)", GUIDE.read_text()))
    assert len(EXAMPLES) == 3
    assert {f"examples/{path.name}" for path in EXAMPLES} == linked


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_and_the_guide_states_their_size(path: Path) -> None:
    spec = load_spec(path)
    assert spec.name == path.stem
    params = lower(spec).params
    assert f"{params:,} parameters" in GUIDE.read_text(), f"the guide should state {params:,} for {path.name}"
