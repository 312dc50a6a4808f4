"""A property-based fuzz of the command line on mutated bundled specs, recipes and --set values, in process:
every case ends in success or one `archspec: error:` line, within 2 s of CPU and 300 MB of Python memory.

A small budget here; benchmarks/fuzz_cli.py runs thousands of cases (docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archspec.cli import main
from archspec.testing.fuzz import (
    NASTY,
    SPEC_COMMANDS,
    Outcome,
    bundled_texts,
    mutated_text,
    recipe_case,
    run_case,
    set_case,
    spec_case,
)

FUZZ = settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def assert_bounded(outcome: Outcome) -> None:
    """Outcome.bounded, with what a failure needs to be read."""
    assert outcome.bounded, (outcome.argv[:2], outcome.code, outcome.cpu_seconds, outcome.peak_bytes,
                             outcome.stderr[-2000:])  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(text=mutated_text(bundled_texts("spec")), command=st.sampled_from(SPEC_COMMANDS))
def test_mutated_specs(folder: Path, text: str, command: tuple[str, ...]) -> None:
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    assert_bounded(run_case(main, spec_case(command, path)))


@settings(FUZZ, max_examples=12)
@given(text=mutated_text(bundled_texts("recipe")))
def test_mutated_recipes(folder: Path, text: str) -> None:
    path = folder / "recipe.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    assert_bounded(run_case(main, recipe_case(path)))


@settings(FUZZ, max_examples=12)
@given(
    path=st.sampled_from(["stages[0].blocks", "width", "depth", "head", "stem.kernel_size", "input", "block.kind"]),
    value=st.sampled_from([str(v) for v in NASTY]) | st.text(max_size=30),
)
def test_mutated_set_values(path: str, value: str) -> None:
    assert_bounded(run_case(main, set_case(f"{path}={value}")))
