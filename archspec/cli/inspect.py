"""Commands that build the model and look at it: summary, trace."""

from __future__ import annotations

import argparse

from archspec.cli.common import Commands, add_limit_arguments, add_spec_argument, guarded_spec, positive_int


def cmd_summary(args: argparse.Namespace) -> int:
    spec, _ = guarded_spec(args)  # refused specs never import torch
    from archspec.nn.build import build
    from archspec.nn.summary import summarize

    print(summarize(build(spec), spec, depth=args.depth, batch_size=args.batch_size))
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    spec, _ = guarded_spec(args)
    import torch

    from archspec.nn.build import build
    from archspec.nn.summary import format_trace, trace

    with torch.device("meta"):  # shapes only: no weights to initialise, no activations to hold
        model = build(spec)
    print(format_trace(trace(model, spec)))
    return 0


def register(commands: Commands) -> None:
    p = commands.add("summary", cmd_summary, "torchinfo summary of the built model (one real forward pass).")
    add_spec_argument(p)
    add_limit_arguments(p)
    p.add_argument("--depth", type=positive_int, default=3, help="nesting depth of the table (default 3)")
    p.add_argument("--batch-size", type=positive_int, default=1, help="batch size of the probe input (default 1)")
    p = commands.add("trace", cmd_trace, "Output shape after each part of the model (d2l's layer trace).")
    add_spec_argument(p)
    add_limit_arguments(p)
