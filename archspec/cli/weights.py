"""Commands: weights import, weights export (state dicts in torchvision's, timm's or d2l's layout)."""

from __future__ import annotations

import argparse
from pathlib import Path

from archspec.cli.common import Commands, positive_int, spec_from_args
from archspec.nn.layouts import LAYOUTS, layout_names
from archspec.report import count


def cmd_import(args: argparse.Namespace) -> int:
    from archspec.artifacts.weightfiles import import_weights
    from archspec.recipe.schema import load_recipe
    from archspec.spec.io import spec_hash

    spec = spec_from_args(args)
    recipe = load_recipe(args.recipe)
    done = import_weights(args.file, args.layout, spec, args.out, recipe)
    skipped = [e for e in done.report.entries if e.status == "missing"]
    note = f" ({len(skipped)} num_batches_tracked counters absent from the file, set to 0)" if skipped else ""
    print(f"loaded {len(done.report.loaded)} tensors ({count(done.parameters)} numbers) from {args.file} "
          f"({args.layout} layout) into {spec.name} ({spec_hash(spec)}){note}")  # fmt: skip
    print(f"wrote {done.path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from archspec.artifacts.weightfiles import export_weights

    tensors = export_weights(args.checkpoint, args.layout, args.out)
    print(f"wrote {args.out}: {tensors} tensors in the {args.layout} layout")
    return 0


def _layouts_help() -> str:
    return "; ".join(f"{name}: {layout.summary}" for name, layout in LAYOUTS.items())


def register(commands: Commands) -> None:
    group = commands.add("weights", _no_command, "Import and export state dicts in torchvision's, timm's or "
                         "d2l's layout.")  # fmt: skip
    sub = group.add_subparsers(dest="weights_command", required=True, metavar="ACTION", parser_class=type(group))
    inner = Commands(sub)
    p = inner.add("import", cmd_import, "Load a state dict (torch.save or .safetensors) into a spec exactly; "
                  "write an archspec checkpoint.")  # fmt: skip
    p.add_argument("file", type=Path, help="a state dict saved by torch.save (read weights-only) or a .safetensors")
    p.add_argument("--layout", required=True, choices=layout_names(), help=_layouts_help())
    p.add_argument("--spec", required=True, help="the spec the weights belong to (file or preset name)")
    p.add_argument("--out", required=True, type=Path, metavar="CKPT", help="the checkpoint to write (.pt)")
    p.add_argument("--recipe", default="d2l", help="recipe stored with it, for `evaluate` (default d2l)")
    p.add_argument("--set", action="append", default=[], dest="sets", metavar="PATH=VALUE",
                   help="override a field of the spec (repeatable), as for every spec command")  # fmt: skip
    p.add_argument("--input-size", nargs=3, type=positive_int, metavar=("C", "H", "W"),
                   help="override the spec's input size")  # fmt: skip
    p = inner.add("export", cmd_export, "Write a checkpoint's weights as a state dict in another layout.")
    p.add_argument("checkpoint", type=Path, help="a checkpoint file, or a run folder (its best.pt)")
    p.add_argument("--layout", required=True, choices=layout_names(), help=_layouts_help())
    p.add_argument("--out", required=True, type=Path, metavar="FILE",
                   help="the state dict to write: .safetensors, or torch.save's format for any other name")  # fmt: skip


def _no_command(args: argparse.Namespace) -> int:
    raise AssertionError("argparse requires an action")
