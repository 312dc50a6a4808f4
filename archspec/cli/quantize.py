"""Command: quantize (post-training int8 ONNX model of a checkpoint, refused when accuracy drops too far)."""

from __future__ import annotations

import argparse
from pathlib import Path

from archspec.cli.common import Commands, positive_int
from archspec.cli.threads import add_threads_argument, use_threads


def cmd_quantize(args: argparse.Namespace) -> int:
    from archspec.deploy.quantize import quantize_checkpoint

    use_threads(args)
    done = quantize_checkpoint(args.checkpoint, args.out, args.calibrate, args.max_drop, args.data_dir, args.max_test)
    print(f"data: {done.data}")
    print(f"test accuracy on {done.test_images:,} images: fp32 {done.fp32_accuracy:.2%}, int8 {done.int8_accuracy:.2%} "
          f"({0.0 - done.drop_points:+.2f} points; limit -{args.max_drop:g})")  # fmt: skip
    print(f"wrote {done.path} (int8, calibrated on {done.calibration_images:,} training images, spec "
          f"{done.spec.name}, from {done.source})")  # fmt: skip
    return 0


def _points(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected accuracy points (a number), got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected 0 to 100 accuracy points, got {text!r}")
    return value


def register(commands: Commands) -> None:
    p = commands.add("quantize", cmd_quantize, "Post-training int8 quantization of a checkpoint to ONNX (ONNX "
                     "Runtime static QDQ, per-channel weights), calibrated on the run's training images; refused "
                     "when test accuracy drops more than --max-drop points.")  # fmt: skip
    p.add_argument("checkpoint", type=Path, help="a checkpoint file, or a run folder (uses its best.pt)")
    p.add_argument("--calibrate", type=positive_int, required=True, metavar="N",
                   help="calibrate activation ranges on N training images (a few hundred is typical)")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="the int8 model to write (*.onnx)")
    p.add_argument("--max-drop", type=_points, default=0.5, metavar="POINTS",
                   help="refuse (write nothing) when int8 test accuracy is more than this many points below fp32 "
                   "(default 0.5)")  # fmt: skip
    p.add_argument("--data-dir", metavar="DIR", help="the run's data folder, if not where it was trained from "
                   "('sample' for the bundled sample)")  # fmt: skip
    p.add_argument("--max-test", type=positive_int, metavar="N", help="evaluate on the first N test images only")
    add_threads_argument(p)
