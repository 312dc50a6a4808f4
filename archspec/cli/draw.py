"""The command that draws a network: draw SPEC|RUN [--out FILE.svg|png|dot] [--depth stage|block|layer]."""

from __future__ import annotations

import argparse
from pathlib import Path

from archspec.cli.common import Commands, add_spec_argument, spec_from_args


def cmd_draw(args: argparse.Namespace) -> int:
    from archspec.artifacts.rundir import RunDir
    from archspec.draw import output_format, render

    if Path(args.spec).is_dir():  # a run folder: the spec it trained
        run = RunDir(args.spec)
        if not run.spec_file.is_file():
            from archspec.errors import ArchspecError

            raise ArchspecError(f"{args.spec}: a folder, but not a run folder (no {RunDir.SPEC}); give a spec file, "
                                "a preset name or a run folder")  # fmt: skip
        args.spec = str(run.spec_file)
    spec = spec_from_args(args)
    out: Path = args.out or Path(f"{spec.name}.svg")
    output_format(out)  # a suffix it cannot draw: refused before any work
    render(spec, out, args.depth)
    print(f"wrote {out} ({spec.name}, {args.depth} depth)")
    return 0


def register(commands: Commands) -> None:
    from archspec.draw import DEPTHS, FORMATS

    p = commands.add("draw", cmd_draw, "A diagram of the network drawn from its plan (Graphviz): stem, stages, "
                     "blocks with their shortcuts, output shapes, parameters and MACs.")  # fmt: skip
    add_spec_argument(p, help_text="a spec file, a bundled preset name, or a run folder (its spec)")
    p.add_argument("--out", type=Path, metavar="FILE", help=f"where to write it; the suffix picks the format "
                   f"({', '.join(FORMATS)}; default <spec name>.svg)")  # fmt: skip
    p.add_argument("--depth", choices=DEPTHS, default="block", help="one box per stage, per block (default) or "
                   "per layer")  # fmt: skip
