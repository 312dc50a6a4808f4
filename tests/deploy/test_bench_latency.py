"""`bench`: batch-1 latency percentiles next to throughput, runtime columns, and a warning when the machine
is busy. No timing is asserted: only that each figure is there, consistent and rendered."""

from __future__ import annotations

import os

import pytest

from archspec import build, load_spec, runtime
from archspec.arch.validate import with_input
from archspec.cli import main
from archspec.deploy import runtimes
from archspec.deploy.bench import Latency, Result, bench_runtimes, latency, load_warning
from archspec.deploy.runtimes import torch_runtime
from archspec.report import bench_table


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread per runtime, as torch has in every test process (conftest.py): on two shared cores, two
    threads of a tiny model mostly wait for each other."""
    monkeypatch.setattr(runtimes, "available_cores", lambda: 1)


def test_latency_percentiles_pool_every_round() -> None:
    spec = with_input(load_spec("cifar-resnet20"), 3, 8, 8)
    model = build(spec).eval()
    runtimes = [torch_runtime("eager fp32", model), torch_runtime("again", model, note="the same model")]
    results = bench_runtimes(runtimes, (3, 8, 8), batch_size=2, seconds=0.01, latency_runs=20, rounds=2)
    assert [r.variant for r in results] == ["eager fp32", "again"]
    for r in results:
        assert r.images_per_second > 0 and r.latency is not None
        assert r.latency.runs == 20 and 0 < r.latency.p50 <= r.latency.p90 <= r.latency.p99
    assert results[1].note == "the same model"


def test_percentiles_of_known_times() -> None:
    found = latency([float(i) for i in range(1, 201)])  # 1 .. 200 seconds
    assert (found.p50, found.p90, found.p99, found.runs) == pytest.approx((100.5, 180.1, 198.01, 200))


def test_table_shows_latency_columns_and_ratios_to_eager() -> None:
    results = [
        Result("eager fp32", 100.0, latency=Latency(0.010, 0.012, 0.020, 200)),
        Result("onnxruntime int8", 400.0, "calibrated", Latency(0.002, 0.003, 0.004, 200)),
    ]
    lines = bench_table(results, "inference:", batch_size=64).splitlines()
    assert lines[1].split() == ["variant", "images/s", "(batch", "64)", "vs", "eager", "fp32", "p50", "ms", "p90",
                                "ms", "p99", "ms", "p50", "vs", "eager"]  # fmt: skip
    assert lines[2].split() == ["eager", "fp32", "100.0", "1.00x", "10.00", "12.00", "20.00", "1.00x"]
    assert lines[3].split() == ["onnxruntime", "int8", "400.0", "4.00x", "2.00", "3.00", "4.00", "5.00x"]
    assert "200 calls" in lines[4] and lines[5] == "  onnxruntime int8: calibrated"
    training = bench_table([Result("eager fp32", 10.0), Result("channels_last", 12.0)], "training:")
    assert "p50" not in training and "1.20x" in training


def test_load_warning_when_other_work_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (3.25, 1.0, 0.5))
    monkeypatch.setattr(runtime, "busy_cores", lambda window: 1.5)
    warning = load_warning()
    assert warning is not None and "keep 1.5 of" in warning and "3.25" in warning and "not comparable" in warning
    # a load average from this process's own last minute (an export just before), the cores idle now: no warning
    monkeypatch.setattr(runtime, "busy_cores", lambda window: 0.05)
    assert load_warning() is None
    monkeypatch.setattr(runtime, "busy_cores", lambda window: None)  # no /proc/stat: the load average decides
    warning = load_warning()
    assert warning is not None and "load average 3.25 (1 min)" in warning
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 1.0, 0.5))
    assert load_warning() is None


def test_busy_cores_reads_this_machine() -> None:
    busy = runtime.busy_cores(0.05)  # None only where there is no /proc/stat
    assert busy is None or 0.0 <= busy <= len(os.sched_getaffinity(0))


@pytest.mark.slow  # exports ONNX
def test_bench_command_adds_runtime_columns_and_latency(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (4.0, 4.0, 4.0))
    monkeypatch.setattr(runtime, "busy_cores", lambda window: 1.25)
    args = ["bench", "cifar-resnet20", "--input-size", "3", "16", "16", "--batch-size", "4", "--seconds", "0.03",
            "--latency-runs", "12"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "WARNING: other processes keep 1.2 of the" in out and "(load average 4.00)" in out
    assert "p50 ms" in out and "onnxruntime fp32" in out and "eager fp32" in out
    assert "percentiles over 12 calls per variant" in out
