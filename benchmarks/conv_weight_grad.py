"""One convolution's weight gradient: oneDNN's backward-weights kernel against archspec's swapped form
(archspec/nn/conv_grad.py: the same gradient as one forward convolution with batch and channels swapped).

    python benchmarks/conv_weight_grad.py                 # bf16, NHWC, batch 64: the layers of d2l-resnet18 and more
    python benchmarks/conv_weight_grad.py --dtype fp32

Each row times both on the same tensors in this process (the best of --repeats after two warm-ups) and
prints the ratio and the largest difference relative to the gradient's largest entry. The rule that
`conv_weight_grad: auto` applies (kernels of 3x3 or more, outputs of at most SMALL_MAP_AREA pixels) comes
from these rows; docs/benchmarks.md, "Choosing precision and memory format", has the figures per CPU.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from machine import machine  # benchmarks/machine.py, beside this script
from torch.nn import functional as F

from archspec.nn.conv_grad import SMALL_MAP_AREA, weight_grad

# (C_in, C_out, input map side, stride, kernel side): d2l-resnet18's 3x3 layers at 96x96, its 1x1 shortcuts, one 8x8
LAYERS = [(512, 512, 3, 1, 3), (256, 512, 6, 2, 3), (256, 256, 6, 1, 3), (128, 128, 8, 1, 3), (128, 128, 12, 1, 3),
          (64, 64, 24, 1, 3), (256, 512, 6, 2, 1), (128, 256, 12, 2, 1)]  # fmt: skip


def best_ms(fn: Callable[[], object], repeats: int) -> float:
    fn(), fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def row(layer: tuple[int, int, int, int, int], dtype: torch.dtype, batch: int, repeats: int) -> str:
    c_in, c_out, side, stride, k = layer
    pad, nhwc = k // 2, torch.channels_last
    x = torch.randn(batch, c_in, side, side).to(dtype).contiguous(memory_format=nhwc)
    w = torch.randn(c_out, c_in, k, k).to(dtype).contiguous(memory_format=nhwc)
    grad_out = torch.randn_like(F.conv2d(x, w, stride=stride, padding=pad)).contiguous(memory_format=nhwc)
    out = grad_out.shape[-1]

    def native() -> torch.Tensor:
        return torch.ops.aten.convolution_backward(grad_out, x, w, None, [stride] * 2, [pad] * 2, [1, 1], False,
                                                   [0, 0], 1, [False, True, False])[1]  # fmt: skip

    def swapped() -> torch.Tensor:
        return weight_grad(x, grad_out, (k, k), (stride, stride), (pad, pad))

    reference = native().float()
    diff = float((swapped().float() - reference).abs().max() / reference.abs().max())
    ms_native, ms_swapped = best_ms(native, repeats), best_ms(swapped, repeats)
    return (f"{f'{c_in}->{c_out}':>12} {f'{side}x{side}':>6} {stride:>6} {f'{k}x{k}':>6} {f'{out}x{out}':>5} "
            f"{ms_native:>10.2f} {ms_swapped:>10.2f} {ms_native / ms_swapped:>5.2f}x {diff:>8.1e}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    print(machine(f"torch {torch.__version__} on {torch.get_num_threads()} threads"), "\n")
    print(f"{args.dtype}, NHWC, batch {args.batch_size}; swapped is what auto picks for kernels >= 3x3 with outputs "
          f"of at most {SMALL_MAP_AREA} pixels")  # fmt: skip
    print(f"{'C_in->C_out':>12} {'map':>6} {'stride':>6} {'kernel':>6} {'out':>5} {'oneDNN ms':>10} "
          f"{'swapped ms':>10} {'ratio':>6} {'rel diff':>8}")  # fmt: skip
    for layer in LAYERS:
        print(row(layer, dtype, args.batch_size, args.repeats))


if __name__ == "__main__":
    main()
