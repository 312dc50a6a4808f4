"""Command: bench (throughput and batch-1 latency of torch variants and runtimes, side by side)."""

from __future__ import annotations

import argparse
import os
import platform

from archspec.arch.guard import Workload
from archspec.cli.common import (
    Commands,
    add_limit_arguments,
    add_spec_argument,
    guarded_spec,
    positive_int,
    positive_seconds,
)
from archspec.cli.threads import add_threads_argument, use_threads

VARIANTS = 4  # copies of the weights held at once: eager, folded, folded + channels_last, bf16


def cmd_bench(args: argparse.Namespace) -> int:
    spec, _ = guarded_spec(args, Workload(args.batch_size, training=args.train, models=VARIANTS))
    import torch

    from archspec.deploy.bench import bench_inference, bench_training, load_warning, missing_runtimes
    from archspec.report import bench_table
    from archspec.runtime import bf16_is_fast

    use_threads(args)

    shape = f"{spec.input.channels}x{spec.input.height}x{spec.input.width}"
    print(f"{spec.name} at {shape}, batch {args.batch_size}; {platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), native bf16: {bf16_is_fast()}")  # fmt: skip
    warning = load_warning()
    if warning:
        print(warning)
    bf16 = True if args.bf16 else None
    results = bench_inference(spec, args.batch_size, args.seconds, args.compile, bf16, not args.no_runtimes,
                              args.latency_runs)  # fmt: skip
    where = "" if args.no_runtimes else "; runtimes on a verified fp32 ONNX export"
    print(bench_table(results, f"inference (eval mode{where}):", args.batch_size))
    if not args.no_runtimes:
        for note in missing_runtimes():
            print(f"note: {note}")
    if args.train:
        print(bench_table(bench_training(spec, args.batch_size, args.seconds, bf16=bf16), "training step (SGD):"))
    return 0


def register(commands: Commands) -> None:
    p = commands.add("bench", cmd_bench, "Images/s and batch-1 latency of eager fp32 vs folded, channels_last, "
                     "bf16 and compiled variants, onnxruntime and OpenVINO, side by side in one run.")  # fmt: skip
    add_spec_argument(p)
    add_limit_arguments(p)
    p.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default 64)")
    p.add_argument("--seconds", type=positive_seconds, default=3.0,
                   help="time each variant at least this long, in seconds (default 3)")  # fmt: skip
    p.add_argument("--latency-runs", type=positive_int, default=200, metavar="N",
                   help="batch-1 calls per variant for the latency percentiles (default 200)")  # fmt: skip
    p.add_argument("--no-runtimes", action="store_true", help="torch variants only (no ONNX export, no onnxruntime "
                   "or OpenVINO)")  # fmt: skip
    p.add_argument("--train", action="store_true", help="also time training steps")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (compiling takes a while)")
    p.add_argument("--bf16", action="store_true", help="time bf16 even where the CPU only emulates it")
    add_threads_argument(p)
