"""Train-step throughput of archspec's training path against the seed's own fp32 loop, side by side.

    python benchmarks/train_throughput.py                      # d2l-resnet18, 96x96, batch 64
    python benchmarks/train_throughput.py --accuracy           # also: bf16 vs fp32 test accuracy, short run
    python benchmarks/train_throughput.py --peaks --variants fast-nchw,fast,fast-bf16-nchw,fast-bf16
                                   # the four precision x memory-format variants against the matmul peaks

Every variant trains the same spec on the same uint8 batches of real Fashion-MNIST (the bundled sample),
one after another in this process, warm-up steps first. The reference loop is written here in the seed's
style (d2l's train_ch6): a plain fp32 NCHW model, SGD, and per-batch `loss.item()`-style metrics as
d2l's Accumulator does. "step" timings use batches already resized; "with data" times include turning
uint8 images into model inputs, for the seed per image (d2l's Resize runs per image in its DataLoader).

`--peaks` also times a 4096x4096 matmul in fp32 and in bf16 on the same threads, and prints each variant's
step as GFLOP/s (6 x the analytic forward MACs per training example: 2 FLOP per mult-add, backward about twice
the forward) and as a fraction of both peaks; and it names the variant that the recipe defaults
(`precision: auto`, `channels_last: auto`) pick on this machine, beside the fastest measured.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
from machine import machine  # benchmarks/machine.py, beside this script
from torch import nn
from torch.nn import functional as F

from archspec.arch.complexity import complexity
from archspec.arch.validate import load_spec, with_input
from archspec.data.idx import load_dataset
from archspec.data.preprocess import Preprocess
from archspec.nn.build import build
from archspec.nn.conv_grad import swap_weight_grad
from archspec.recipe.schema import load_recipe
from archspec.runtime import (
    autocast,
    cpu_has_native_bf16,
    resolve_channels_last,
    resolve_conv_weight_grad,
    resolve_precision,
)
from archspec.train.init import init_weights
from archspec.train.runs import DataOptions, train_run

Step = Callable[[torch.Tensor, torch.Tensor], None]


def seed_model(spec_name: str, size: int, channels_last: bool = False) -> nn.Module:
    torch.manual_seed(0)
    spec = with_input(load_spec(spec_name), 1, size, size)
    model = build(spec)
    init_weights(model, "xavier", spec)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    model.train()
    return model


def reference_step(model: nn.Module) -> Step:
    """d2l's train_ch6 inner loop: fp32, then metric.add(l * X.shape[0], d2l.accuracy(y_hat, y), X.shape[0])."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    metric = [0.0, 0.0, 0.0]

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad()
        y_hat = model(x)
        loss = F.cross_entropy(y_hat, y)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        with torch.no_grad():
            metric[0] += float(loss.item()) * x.shape[0]  # host sync every batch
            metric[1] += float((y_hat.argmax(1) == y).sum().item())
            metric[2] += x.shape[0]

    return step


def fast_step(model: nn.Module, dtype: torch.dtype | None, channels_last: bool, fused: bool = False) -> Step:
    """archspec's loop body (train.train_epoch): autocast, metrics summed on the device, no per-batch sync;
    `fused`: SGD's fused kernel (one pass over the parameters) instead of its per-tensor loop."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, fused=fused or None)
    loss_sum = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    device = torch.device("cpu")

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        nonlocal loss_sum, correct
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, dtype):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        loss_sum += loss.detach().float() * y.shape[0]
        correct += (logits.detach().argmax(1) == y).sum()

    return step


def per_image_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """The seed's data path: each image resized on its own (d2l's transforms.Resize in the DataLoader)."""
    out = [F.interpolate(image[None, None].float() / 255, size=(size, size), mode="bilinear") for image in images]
    return torch.cat(out)


def time_steps(step: Step, batches: list[tuple[torch.Tensor, torch.Tensor]], warmup: int) -> float:
    for x, y in batches[:warmup]:
        step(x, y)
    start = time.perf_counter()
    for x, y in batches[warmup:]:
        step(x, y)
    return time.perf_counter() - start


def matmul_gflops(dtype: torch.dtype, size: int = 4096, repeats: int = 6) -> float:
    """The best of `repeats` timed size x size matmuls, as GFLOP/s (2 size^3 FLOP each), after one warm-up."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


SETTINGS = {"nchw", "bf16", "swapped"}  # what the defaults choose: precision, channels_last, conv_weight_grad
LEVERS = {"fused", "compile"}  # measured on top


def variant_tokens(name: str) -> set[str]:
    """`fast` and its modifiers in any order: fast-bf16-swapped is bf16 autocast, NHWC, the swapped weight grad."""
    first, *rest = name.split("-")
    tokens = set(rest)
    if first != "fast" or len(tokens) != len(rest) or not tokens <= SETTINGS | LEVERS:
        known = ", -".join(sorted(SETTINGS | LEVERS))
        raise SystemExit(f"unknown variant {name!r}: seed, or fast with any of -{known}")
    return tokens


def fast_variant(spec: str, size: int, tokens: set[str]) -> Step:
    channels_last = "nchw" not in tokens
    model = seed_model(spec, size, channels_last)
    if "swapped" in tokens:
        swap_weight_grad(model)
    forward = torch.compile(model) if "compile" in tokens else model
    dtype = torch.bfloat16 if "bf16" in tokens else None
    return fast_step(forward, dtype, channels_last, fused="fused" in tokens)  # type: ignore[arg-type]


def auto_tokens() -> set[str]:
    """The settings the recipe defaults pick here (precision, channels_last, conv_weight_grad auto), on the CPU."""
    cpu = torch.device("cpu")
    dtype = resolve_precision("auto", cpu)[0]
    chosen = {"bf16": dtype is not None, "nchw": not resolve_channels_last("auto", cpu)[0],
              "swapped": resolve_conv_weight_grad("auto", cpu, dtype)[0]}  # fmt: skip
    return {token for token, on in chosen.items() if on}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="d2l-resnet18")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--variants",
        default="seed,fast,fast-bf16",
        help="comma list: seed, or fast with modifiers in any order: -bf16 (autocast), -nchw (not channels_last), "
        "-swapped (conv_weight_grad swapped), -fused (fused SGD), -compile (torch.compile); e.g. fast-bf16-swapped",
    )
    parser.add_argument("--accuracy", action="store_true", help="also compare bf16 and fp32 test accuracy")
    parser.add_argument("--peaks", action="store_true", help="also the matmul peaks, each step's share")
    args = parser.parse_args()

    torch_threads = f"torch {torch.__version__} on {torch.get_num_threads()} threads"
    print(machine(torch_threads, f"native bf16 (AVX512-BF16/AMX): {cpu_has_native_bf16()}"), "\n")
    data = load_dataset("fashion-mnist", "sample")
    assert data.train is not None
    images, labels = torch.from_numpy(data.train.images.copy()), torch.from_numpy(data.train.labels)
    count = args.warmup + args.steps
    generator = torch.Generator().manual_seed(0)
    index = torch.randperm(len(data.train), generator=generator)[: count * args.batch_size].view(count, -1)
    raw = [(images[i], labels[i]) for i in index]
    prep = Preprocess(size=args.size)
    ready = [(prep(images), labels) for images, labels in raw]

    variants: dict[str, tuple[Step, bool]] = {}
    for name in args.variants.split(","):
        if name == "seed":
            variants[name] = (reference_step(seed_model(args.spec, args.size)), False)
        else:
            variants[name] = (fast_variant(args.spec, args.size, variant_tokens(name)), True)

    print(f"{args.spec} at {args.size}x{args.size}, batch {args.batch_size}, {args.steps} timed steps after "
          f"{args.warmup} warm-up steps")  # fmt: skip
    peaks = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)} if args.peaks else {}
    macs = complexity(with_input(load_spec(args.spec), 1, args.size, args.size)).macs
    flop = 6 * macs  # per training example: forward 2 x MACs, backward about twice that
    if peaks:
        print(f"matmul 4096x4096 on {torch.get_num_threads()} threads: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 "
              f"{peaks['bf16']:.0f} GFLOP/s; {flop / 1e9:.3f} GFLOP per training example "
              f"(6 x {macs:,} MACs)")  # fmt: skip
    first = "vs first"
    peak_columns = f" {'GFLOP/s':>8} {'of fp32 peak':>12} {'of bf16 peak':>12}" if peaks else ""
    print(f"{'variant':<15} {'step ex/s':>10} {first:>8} {'with data ex/s':>15} {first:>8}{peak_columns}")
    base: tuple[float, float] | None = None
    rates: dict[str, float] = {}
    examples = args.steps * args.batch_size
    for name, (step, batched) in variants.items():
        step_rate = examples / time_steps(step, ready, args.warmup)
        if batched:

            def prepared(x: torch.Tensor, y: torch.Tensor, step: Step = step) -> None:
                step(prep(x), y)
        else:

            def prepared(x: torch.Tensor, y: torch.Tensor, step: Step = step) -> None:
                step(per_image_resize(x, args.size), y)

        data_rate = examples / time_steps(prepared, raw, args.warmup)
        base = base or (step_rate, data_rate)
        rates[name] = step_rate
        ratios = f"{step_rate / base[0]:>7.2f}x {data_rate:>15.1f} {data_rate / base[1]:>7.2f}x"
        if peaks:
            gflops = step_rate * flop / 1e9
            ratios += f" {gflops:>8.1f} {gflops / peaks['fp32']:>12.0%} {gflops / peaks['bf16']:>12.0%}"
        print(f"{name:<15} {step_rate:>10.1f} {ratios}")
    measured = {name: rate for name, rate in rates.items() if name != "seed" and variant_tokens(name) <= SETTINGS}
    if measured:
        fastest, auto = max(measured, key=measured.__getitem__), auto_tokens()
        picked = next((name for name in measured if variant_tokens(name) == auto), None)
        seen = f"{picked} at {measured[picked] / measured[fastest]:.0%} of it" if picked else f"{sorted(auto)}, not run"
        print(f"fastest of the settings run: {fastest}; the recipe defaults (auto) pick {seen}")

    if args.accuracy:
        print("\nbf16 vs fp32 accuracy: fashion-resnet, 3 epochs on the bundled sample (5,000 / 1,000 images)")
        for precision in ("fp32", "bf16"):
            recipe = load_recipe("fashion-best", ["epochs=3", f"precision={precision}"])
            out = Path("runs") / f"bench-accuracy-{precision}-{time.strftime('%Y%m%d-%H%M%S')}"
            lines: list[str] = []
            train_run(load_spec("fashion-resnet"), recipe, out, DataOptions("sample"), quiet=True, log=lines.append)
            print(f"  {precision}: {next(line for line in reversed(lines) if line.startswith('loss '))}")


if __name__ == "__main__":
    main()
