"""Side-by-side speed of inference variants (torch, ONNX Runtime, OpenVINO) and training steps of one spec.

Throughput is images/s at the given batch size; latency is per call at batch 1 (p50/p90/p99 over at least
200 calls). Variants are timed in interleaved rounds, so a change in machine load mid-run hits all of them.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from archspec.deploy.export import TOLERANCE, ExportError, export, verify
from archspec.deploy.inference import optimize_for_inference
from archspec.deploy.runtimes import (
    ONNX_EXTRA,
    OPENVINO_EXTRA,
    Runtime,
    import_onnxruntime,
    load_onnx,
    load_openvino,
    onnxruntime_available,
    openvino_available,
    torch_runtime,
)
from archspec.nn.build import build
from archspec.runtime import OTHER_LIMIT, OTHER_WINDOW_S, bf16_is_fast, other_load, to_channels_last
from archspec.spec.schema import ResNetSpec

EMULATED = "this CPU emulates bf16 (no AVX-512 BF16/AMX)"
LATENCY_RUNS = 200


@dataclass(frozen=True)
class Latency:
    """Seconds per batch-1 call."""

    p50: float
    p90: float
    p99: float
    runs: int


@dataclass(frozen=True)
class Result:
    variant: str
    images_per_second: float
    note: str = ""
    latency: Latency | None = None


def measure(step: Callable[[], object], batch_size: int, seconds: float, warmup: int = 2) -> float:
    """Images per second of `step` (one batch), timed over at least `seconds` after `warmup` calls."""
    for _ in range(warmup):
        step()
    calls, start = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 3:
            return calls * batch_size / elapsed


def call_times(step: Callable[[], object], runs: int, warmup: int = 3) -> list[float]:
    """Seconds taken by each of `runs` calls of `step`, after `warmup` untimed calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def latency(times: Sequence[float]) -> Latency:
    cuts = statistics.quantiles(times, n=100, method="inclusive")  # cuts[k - 1] is the k-th percentile
    return Latency(cuts[49], cuts[89], cuts[98], len(times))


def load_warning(limit: float = OTHER_LIMIT) -> str | None:
    """A warning when other work shares the CPU (archspec.runtime.other_load, the same judgement that chooses
    the threads), else None."""
    load = other_load(OTHER_WINDOW_S)
    if not (load.busy > limit if load.busy is not None else load.shared):
        return None
    return (f"WARNING: {load.describe()}: other work shares the CPU, so these figures are not comparable with an "
            "idle machine's, and even the ratios between variants can swing (contention hits multi-threaded "
            "variants hardest); run again when the machine is idle")  # fmt: skip


def bench_runtimes(
    runtimes: Sequence[Runtime],
    input_shape: tuple[int, int, int],
    batch_size: int,
    seconds: float = 3.0,
    latency_runs: int = LATENCY_RUNS,
    rounds: int = 3,
) -> list[Result]:
    """Throughput at `batch_size` and batch-1 latency of each runtime, timed in `rounds` interleaved rounds.

    Throughput is the median of the rounds; latency percentiles pool every round's calls.
    """
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(batch_size, *input_shape, generator=generator)
    single = torch.randn(1, *input_shape, generator=generator)
    speeds: list[list[float]] = [[] for _ in runtimes]
    times: list[list[float]] = [[] for _ in runtimes]
    per_round = -(-latency_runs // rounds)
    for _ in range(rounds):
        for i, runtime in enumerate(runtimes):
            speeds[i].append(measure(functools.partial(runtime, batch), batch_size, seconds / rounds))
            if latency_runs:
                times[i] += call_times(functools.partial(runtime, single), per_round)
    return [
        Result(r.name, statistics.median(speed), r.note, latency(took) if took else None)
        for r, speed, took in zip(runtimes, speeds, times, strict=True)
    ]


def inference_variants(model: nn.Module, compile: bool, bf16: bool | None) -> Iterator[tuple[str, nn.Module, str]]:
    """(name, model, note) for eager fp32 and each optimisation, cumulatively."""
    yield "eager fp32", model.eval(), ""
    yield "folded BN", optimize_for_inference(model, channels_last=False), ""
    yield "folded + channels_last", optimize_for_inference(model), ""
    use_bf16 = bf16_is_fast() if bf16 is None else bf16
    if use_bf16:
        note = "" if bf16_is_fast() else EMULATED
        yield "folded + channels_last + bf16", optimize_for_inference(model, bf16=True), note
    if compile:
        yield "folded + channels_last + compile", optimize_for_inference(model, compile=True), ""


def onnx_variants(model: nn.Module, spec: ResNetSpec, folder: Path) -> Iterator[Runtime]:
    """onnxruntime (and OpenVINO, where installed) on a verified fp32 ONNX export of `model` written to `folder`."""
    import_onnxruntime()
    path = export(model, spec, "onnx", folder / f"{spec.name}.onnx")
    error = verify(model, spec, path, "onnx")
    if error > TOLERANCE:
        raise ExportError(f"{path}: export differs from the eager model by {error:.2e} (> {TOLERANCE})")
    yield load_onnx(path, name="onnxruntime fp32", check=False)
    if openvino_available():
        yield load_openvino(path, name="openvino fp32")


def missing_runtimes() -> list[str]:
    """A note for each optional runtime whose column `bench` leaves out because it is not installed."""
    notes = []
    if not onnxruntime_available():
        notes.append(f"onnxruntime not installed: no onnxruntime column ({ONNX_EXTRA})")
    if not openvino_available():
        notes.append(f"OpenVINO not installed: no openvino column ({OPENVINO_EXTRA})")
    return notes


def bench_inference(
    spec: ResNetSpec,
    batch_size: int,
    seconds: float = 3.0,
    compile: bool = False,
    bf16: bool | None = None,
    runtimes: bool = True,
    latency_runs: int = LATENCY_RUNS,
) -> list[Result]:
    """Every inference variant of `spec` (random weights) side by side: torch's, then the installed runtimes'."""
    torch.manual_seed(0)
    model = build(spec, batch_size=batch_size).eval()
    variants = [torch_runtime(name, module, note) for name, module, note in inference_variants(model, compile, bf16)]
    shape = (spec.input.channels, spec.input.height, spec.input.width)
    with tempfile.TemporaryDirectory(prefix="archspec-bench-") as folder:
        if runtimes and onnxruntime_available():
            variants += onnx_variants(model, spec, Path(folder))
        return bench_runtimes(variants, shape, batch_size, seconds, latency_runs)


def bench_training(spec: ResNetSpec, batch_size: int, seconds: float = 3.0, bf16: bool | None = None) -> list[Result]:
    """One SGD step per call: forward, cross-entropy, backward, update."""
    results = []
    use_bf16 = bf16_is_fast() if bf16 is None else bf16
    settings = [("eager fp32", False, False), ("channels_last", True, False)]
    if use_bf16:
        settings.append(("channels_last + bf16 autocast", True, True))
    for name, channels_last, autocast in settings:
        torch.manual_seed(0)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = build(spec, batch_size=batch_size).train()
        model = to_channels_last(model) if channels_last else model
        x = torch.randn(batch_size, spec.input.channels, spec.input.height, spec.input.width).to(memory_format=fmt)
        y = torch.randint(0, spec.head.num_classes, (batch_size,))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        step = functools.partial(_train_step, model, optimizer, x, y, autocast)
        note = "" if not autocast or bf16_is_fast() else EMULATED
        results.append(Result(name, measure(step, batch_size, seconds), note))
    return results


def _train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, autocast: bool
) -> None:
    context = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with context:
        loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
