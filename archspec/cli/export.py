"""Command: export (ONNX, TorchScript, torch.export), checked against the eager model."""

from __future__ import annotations

import argparse
from pathlib import Path

from archspec.cli.common import Commands, add_limit_arguments, add_spec_argument, limits_from_args

SOURCE_HELP = ("a spec file or bundled preset name (random weights), a checkpoint (*.pt), or a run folder "
               "(its checkpoints/best.pt)")  # fmt: skip


def cmd_export(args: argparse.Namespace) -> int:
    from archspec.deploy.export import export_source

    size = tuple(args.input_size) if args.input_size else None
    out = Path(args.out) if args.out else None
    done = export_source(args.spec, args.format, out, args.sets, size, limits_from_args(args))
    print(f"wrote {done.path} ({done.format}, {done.source}); max |export - eager| = {done.error:.1e} "
          "on batches of 1 and 3")  # fmt: skip
    return 0


def register(commands: Commands) -> None:
    p = commands.add("export", cmd_export, "Export a spec (random weights), a checkpoint or a run folder (its "
                     "best checkpoint) to ONNX, TorchScript or a torch.export archive, with the spec embedded; "
                     "checked against the eager model before it is written.")  # fmt: skip
    add_spec_argument(p, help_text=SOURCE_HELP)
    add_limit_arguments(p)
    p.add_argument("--format", choices=("onnx", "torchscript", "exported-program"), required=True,
                   help="output format")  # fmt: skip
    p.add_argument("--out", help="output file, a new path or a regular file that is not the source "
                   "(default NAME.onnx / NAME.ts / NAME.pt2)")  # fmt: skip
