"""Analytic complexity report vs torchinfo summary, side by side in one run.

    .venv/bin/python benchmarks/complexity_vs_torchinfo.py [--spec resnet152] [--repeat 5]

Prints the best-of-N wall time of each, their ratio, and the machine. torchinfo's time includes
building the model (it needs one) and one forward pass; the analytic report needs neither.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import torch
import torchinfo

from archspec import build, load_spec
from archspec.arch.complexity import complexity
from archspec.arch.guard import check


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default="resnet152")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    spec = load_spec(args.spec)
    size = (1, spec.input.channels, spec.input.height, spec.input.width)

    analytic = best_of(args.repeat, lambda: complexity(spec))
    guard = best_of(args.repeat, lambda: check(complexity(spec)))
    build_time = best_of(args.repeat, lambda: build(spec))
    model = build(spec)
    summary = best_of(args.repeat, lambda: torchinfo.summary(model, input_size=size, verbose=0, device="cpu"))

    report = complexity(spec)
    stats = torchinfo.summary(model, input_size=size, verbose=0, device="cpu")
    assert report.params == stats.total_params and report.torchinfo_mult_adds == stats.total_mult_adds

    threads = f"{torch.get_num_threads()} threads"
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} ({threads}), "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"spec: {args.spec} at {'x'.join(map(str, size[1:]))}, best of {args.repeat}")
    print(f"{'what':<40} {'seconds':>10} {'ratio':>10}")
    rows = [
        ("archspec complexity (analytic)", analytic),
        ("archspec guard check (analytic)", guard),
        ("build the torch model", build_time),
        ("torchinfo.summary on a built model", summary),
        ("torchinfo incl. building the model", summary + build_time),
    ]
    for name, seconds in rows:
        print(f"{name:<40} {seconds:>10.4f} {seconds / analytic:>9.1f}x")


if __name__ == "__main__":
    main()
