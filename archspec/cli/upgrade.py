"""Command: upgrade (files of an earlier archspec rewritten in the current format)."""

from __future__ import annotations

import argparse
from pathlib import Path

from archspec.cli.common import Commands


def cmd_upgrade(args: argparse.Namespace) -> int:
    from archspec.artifacts.upgrade import upgrade

    for done in upgrade(args.path):
        if done.changed:
            print(f"{done.path}: upgraded from format {done.before} to {done.after}")
        else:
            print(f"{done.path}: already format {done.after}")
    return 0


def register(commands: Commands) -> None:
    p = commands.add("upgrade", cmd_upgrade, "Rewrite a run folder, checkpoint or ONNX export of an earlier "
                     "archspec in the current file formats (every command reads old files as they are; this "
                     "makes the files current). Each file is checked first, then rewritten atomically.")  # fmt: skip
    p.add_argument("path", type=Path, help="a run folder, a checkpoint (*.pt) or an ONNX export (*.onnx)")
