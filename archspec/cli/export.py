"""Command: export (ONNX, TorchScript, torch.export), checked against the eager model."""

from __future__ import annotations

import argparse
from pathlib import Path

from archspec.cli.common import Commands, add_spec_argument


def cmd_export(args: argparse.Namespace) -> int:
    from archspec.deploy.export import export_source

    size = tuple(args.input_size) if args.input_size else None
    done = export_source(args.spec, args.format, Path(args.out) if args.out else None, args.sets, size)
    print(f"wrote {done.path} ({done.format}, {done.source}); max |export - eager| = {done.error:.1e} "
          "on batches of 1 and 3")  # fmt: skip
    return 0


def register(commands: Commands) -> None:
    p = commands.add("export", cmd_export, "Export a model to ONNX, TorchScript or a torch.export archive, "
                     "with the spec embedded; checked against the eager model.")  # fmt: skip
    add_spec_argument(p)  # a spec, or a checkpoint (*.pt) or run folder (its best.pt)
    p.add_argument("--format", choices=("onnx", "torchscript", "exported-program"), required=True,
                   help="output format")  # fmt: skip
    p.add_argument("--out", help="output file (default NAME.onnx / NAME.ts / NAME.pt2)")
