"""Side-by-side throughput of inference (and training-step) variants of one spec, in one run."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from archspec.deploy.inference import optimize_for_inference
from archspec.nn.build import build
from archspec.runtime import bf16_is_fast, to_channels_last
from archspec.spec.schema import ResNetSpec

EMULATED = "this CPU emulates bf16 (no AVX-512 BF16/AMX)"


@dataclass(frozen=True)
class Result:
    variant: str
    images_per_second: float
    note: str = ""


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


def bench_inference(
    spec: ResNetSpec, batch_size: int, seconds: float = 3.0, compile: bool = False, bf16: bool | None = None
) -> list[Result]:
    torch.manual_seed(0)
    model = build(spec, batch_size=batch_size)
    x = torch.randn(batch_size, spec.input.channels, spec.input.height, spec.input.width)
    results = []
    with torch.inference_mode():
        for name, variant, note in inference_variants(model, compile, bf16):
            results.append(Result(name, measure(functools.partial(variant, x), batch_size, seconds), note))
    return results


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
