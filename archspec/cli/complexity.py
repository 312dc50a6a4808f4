"""Commands about cost: complexity, diff."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from archspec.arch.complexity import complexity
from archspec.arch.validate import load_spec
from archspec.cli.common import (
    Commands,
    add_input_size_argument,
    add_set_argument,
    add_spec_argument,
    positive_int,
    sized,
    spec_from_args,
)
from archspec.report import complexity_csv_rows, complexity_table, diff_report


def cmd_complexity(args: argparse.Namespace) -> int:
    report = complexity(spec_from_args(args), batch_size=args.batch_size)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    elif args.format == "csv":
        csv.writer(sys.stdout).writerows(complexity_csv_rows(report))
    else:
        print(complexity_table(report, layers=args.layers))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    a, b = (sized(load_spec(source, args.sets), args.input_size) for source in (args.a, args.b))
    print(diff_report(a, b))
    return 0


def register(commands: Commands) -> None:
    p = commands.add("complexity", cmd_complexity, "Parameters, MACs, activation memory, stride and receptive "
                     "field per stage or per layer, from the spec alone (no torch).")  # fmt: skip
    add_spec_argument(p)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    p.add_argument("--batch-size", type=positive_int, default=1, help="batch size for MACs and memory (default 1)")
    p.add_argument("--layers", action="store_true", help="one row per layer instead of per stage (table format)")
    p = commands.add("diff", cmd_diff, "Effective field differences between two specs, and params/MACs per stage "
                     "side by side; one line if they build the same network.")  # fmt: skip
    p.add_argument("a", help="first spec (file or preset)")
    p.add_argument("b", help="second spec (file or preset)")
    add_set_argument(p, "both specs")
    add_input_size_argument(p, "both specs' (compares them at one size)")
