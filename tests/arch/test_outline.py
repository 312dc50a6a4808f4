"""The outline (each stage's repeated blocks lowered once) gives the full plan's totals exactly, and the guard
counts what a command allocates from it: weights, gradients, optimizer state, inputs and activations."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archspec import ResNetSpec, ResourceError, load_spec, lower, preset_names
from archspec.arch.complexity import complexity, totals
from archspec.arch.guard import GIB, Limits, Workload, check_spec, footprint, parse_count, size_text
from archspec.arch.plan import outline
from archspec.testing import specs


@pytest.mark.parametrize("name", preset_names())
def test_outline_totals_equal_the_full_report(name: str) -> None:
    spec = load_spec(name)
    assert outline(spec).params == lower(spec).params
    for batch in (1, 4):
        assert totals(spec, batch_size=batch) == complexity(spec, batch_size=batch).totals()


@settings(max_examples=40, deadline=None)
@given(specs(max_blocks=5), st.integers(1, 3))
def test_outline_totals_equal_the_full_report_for_random_specs(spec: ResNetSpec, batch: int) -> None:
    assert totals(spec, batch_size=batch) == complexity(spec, batch_size=batch).totals()
    assert sum(stage.blocks for stage in outline(spec).stages) == sum(stage.blocks for stage in spec.stages)


def test_a_deep_stage_is_lowered_once_per_distinct_block() -> None:
    spec = load_spec("resnet50", ["stages[1].blocks=900"])
    stage = outline(spec).stages[1]
    assert [run.count for run in stage.runs] == [1, 899]


def test_training_counts_gradients_optimizer_state_and_the_batch() -> None:
    spec = load_spec("resnet50")
    figures = totals(spec, batch_size=8)
    weights = figures.params * 4
    _, inference = footprint(figures, Workload(8))
    _, sgd = footprint(figures, Workload(8, training=True))
    _, adamw = footprint(figures, Workload(8, training=True, optimizer_slots=2))
    assert adamw - sgd == 2 * weights  # Adam's two running averages
    assert sgd > inference + weights  # gradients and the activations autograd keeps
    _, bench = footprint(figures, Workload(8, models=4))
    assert bench - inference == 3 * weights


def test_default_limits_fit_a_24_gib_machine_and_admit_resnet152() -> None:
    limits = Limits()
    assert limits.memory_bytes <= 12 * GIB
    check_spec(load_spec("resnet152"), limits, Workload(1))
    check_spec(load_spec("resnet152"), limits, Workload(16, training=True, optimizer_slots=1))
    for override in ("head.num_classes=1000000", "input.channels=65536", "input={channels: 3, height: 4096, "
                     "width: 4096}"):  # fmt: skip
        with pytest.raises(ResourceError, match="exceeds the limit"):
            check_spec(load_spec("resnet50", [override]), limits, Workload(1, training=True))
    big = totals(load_spec("resnet50", ["input={channels: 3, height: 2048, width: 2048}"]))
    assert footprint(big, Workload(1, training=True))[1] > 6 * GIB  # counted, and within the 12 GiB default


def test_counts_take_si_and_iec_units() -> None:
    assert parse_count("1MB", "x") == 1_000_000
    assert parse_count("1MiB", "x") == 1 << 20
    assert parse_count("16 GiB", "x") == 16 * GIB
    assert parse_count("2e9", "x") == 2_000_000_000
    assert parse_count("2G", "x") == 2_000_000_000
    assert size_text(16 * GIB) == "16 GiB" and size_text(512) == "512 B"
    for bad in ("1XB", "nan", "inf", "-5MB", "1e400"):
        with pytest.raises(ResourceError):
            parse_count(bad, "x")
