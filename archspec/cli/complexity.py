"""Commands about cost: complexity, diff."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from archspec.arch.complexity import Complexity, complexity
from archspec.arch.diff import diff_report
from archspec.arch.validate import load_spec
from archspec.cli.common import Commands, add_spec_argument, positive_int, spec_from_args


def cmd_complexity(args: argparse.Namespace) -> int:
    report = complexity(spec_from_args(args), batch_size=args.batch_size)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    elif args.format == "csv":
        _write_csv(report)
    else:
        print(format_table(report, layers=args.layers))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    print(diff_report(load_spec(args.a), load_spec(args.b)))
    return 0


def format_table(report: Complexity, layers: bool = False) -> str:
    c, h, w = report.input
    head = ("part", "output", "params", "MACs", "activations", "stride", "RF")
    rows = [head]
    if layers:
        rows += [(x.path, _shape(x.output), f"{x.params:,}", f"{x.macs:,}", _bytes(x.activation_bytes), "", "")
                 for x in report.layers]  # fmt: skip
    else:
        rows += [(s.name, _shape(s.output), f"{s.params:,}", f"{s.macs:,}", _bytes(s.activation_bytes), str(s.stride),
                  str(s.receptive_field)) for s in report.stages]  # fmt: skip
    rows.append(("total", "", f"{report.params:,}", f"{report.macs:,}", _bytes(report.activation_bytes), "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [f"{report.name} at {c}x{h}x{w}, batch {report.batch_size}"]
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if index == 0 or index == len(rows) - 2:
            lines.append("  ".join("-" * width for width in widths))
    lines.append(f"MACs = multiply-accumulates of conv and linear weights; FLOPs = 2 x MACs = {report.flops:,}.")
    lines.append(f"Other element ops (bias, norm, activation, pooling, residual add): {report.other_ops:,}.")
    lines.append("Activations: bytes autograd keeps for backward in fp32 training. RF: receptive field in pixels.")
    return "\n".join(lines)


def _write_csv(report: Complexity) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(["path", "op", "channels", "height", "width", "params", "macs", "flops", "other_ops",
                     "activation_bytes"])  # fmt: skip
    for x in report.layers:
        writer.writerow([x.path, x.op, *x.output, x.params, x.macs, x.flops, x.other_ops, x.activation_bytes])


def _shape(dims: tuple[int, int, int]) -> str:
    return "x".join(map(str, dims))


def _bytes(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


def register(commands: Commands) -> None:
    p = commands.add("complexity", cmd_complexity, "Parameters, MACs, activation memory and receptive field, "
                     "from the spec alone (no torch).")  # fmt: skip
    add_spec_argument(p)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    p.add_argument("--batch-size", type=positive_int, default=1, help="batch size for MACs and memory (default 1)")
    p.add_argument("--layers", action="store_true", help="one row per layer instead of per stage (table format)")
    p = commands.add("diff", cmd_diff, "Field differences between two specs, and params/MACs per stage side by side.")
    p.add_argument("a", help="first spec (file or preset)")
    p.add_argument("b", help="second spec (file or preset)")
