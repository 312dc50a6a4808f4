"""Batch-1 latency of a spec's inference copy, the figure a sweep's max_latency_ms is checked against."""

from __future__ import annotations

from helpers import TINY_SPEC

from archspec.arch.validate import load_spec
from archspec.deploy.inference import latency_ms


def test_latency_is_a_positive_median_in_milliseconds() -> None:
    value = latency_ms(load_spec(TINY_SPEC), repeats=5, warmup=1)
    assert isinstance(value, float)
    assert 0.0 < value < 10_000.0
