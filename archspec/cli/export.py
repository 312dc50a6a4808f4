"""Command: export (ONNX, TorchScript, torch.export), checked against the eager model."""

from __future__ import annotations

import argparse
from pathlib import Path

from archspec.cli.common import Commands, add_spec_argument, spec_from_args

SUFFIXES = {"onnx": ".onnx", "torchscript": ".ts", "exported-program": ".pt2"}
TOLERANCE = 1e-4  # fp32 re-association in another runtime; logits are O(1)


def cmd_export(args: argparse.Namespace) -> int:
    from archspec.deploy.export import export, verify
    from archspec.errors import ArchspecError
    from archspec.nn.build import build

    if _is_checkpoint(args.spec):
        from archspec.train.checkpoint import checkpoint_file, checkpoint_model

        if args.sets or args.input_size:
            raise ArchspecError(f"{args.spec}: a checkpoint's spec is fixed; --set and --input-size apply to specs")
        model, spec = checkpoint_model(checkpoint_file(Path(args.spec)))
        source = f"weights of {args.spec}"
    else:
        spec = spec_from_args(args)
        model = build(spec)
        source = "random weights (a spec, not a checkpoint)"
    out = Path(args.out) if args.out else Path(f"{spec.name}{SUFFIXES[args.format]}")
    export(model, spec, args.format, out)
    try:
        error = verify(model, spec, out, args.format)
        if error > TOLERANCE:
            raise ArchspecError(f"{out}: export differs from the eager model by {error:.2e} (> {TOLERANCE}); removed")
    except BaseException:
        out.unlink(missing_ok=True)  # never leave an unchecked export behind
        raise
    print(f"wrote {out} ({args.format}, {source}); max |export - eager| = {error:.1e} on batches of 1 and 3")
    return 0


def _is_checkpoint(source: str) -> bool:
    path = Path(source)
    return path.suffix == ".pt" or (path.is_dir() and (path / "checkpoints").is_dir())


def register(commands: Commands) -> None:
    p = commands.add("export", cmd_export, "Export a model to ONNX, TorchScript or a torch.export archive, "
                     "with the spec embedded; checked against the eager model.")  # fmt: skip
    add_spec_argument(p)  # a spec, or a checkpoint (*.pt) or run folder (its best.pt)
    p.add_argument("--format", choices=tuple(SUFFIXES), required=True, help="output format")
    p.add_argument("--out", help="output file (default NAME.onnx / NAME.ts / NAME.pt2)")
