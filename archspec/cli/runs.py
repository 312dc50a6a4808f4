"""Commands over run folders: runs list [DIR], runs compare RUN... [--png FILE]."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from archspec.cli.common import Commands


def cmd_list(args: argparse.Namespace) -> int:
    from archspec.report import runs_table
    from archspec.runs.folders import list_runs

    summaries = list_runs(args.dir)
    if args.format == "json":
        print(json.dumps([summary.to_json() for summary in summaries], indent=2))
    elif args.format == "csv":
        rows = [summary.to_json() for summary in summaries]
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["run"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)
    else:
        print(runs_table(summaries))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from archspec.report import comparison_table
    from archspec.runs.compare import compare_runs, comparison_csv_rows, comparison_json

    comparison = compare_runs(args.runs)
    if args.format == "json":
        print(json.dumps(comparison_json(comparison), indent=2))
    elif args.format == "csv":
        csv.writer(sys.stdout, lineterminator="\n").writerows(comparison_csv_rows(comparison))
    else:
        print(comparison_table(comparison))
    if args.png is not None:
        from archspec.runs.plots import plot_runs

        plot_runs(comparison.runs, args.png)
        if args.format == "table":
            print(f"curves: {args.png}")
    return 0


def register(commands: Commands) -> None:
    p = commands.add("runs", _no_subcommand, "List run folders (sweep trials included) and compare runs side by side: "
                     "archspec runs list [DIR], archspec runs compare RUN...")  # fmt: skip
    sub = p.add_subparsers(dest="runs_command", metavar="list|compare", parser_class=type(p))
    group = Commands(sub)
    q = group.add("list", cmd_list, "A row per run folder under DIR (default runs), sweep trials included: spec, "
                  "hash, recipe, epochs, best test accuracy, params, MACs, wall time, status.")  # fmt: skip
    q.add_argument("dir", nargs="?", type=Path, default=Path("runs"), metavar="DIR", help="default: runs")
    _add_format(q)
    q = group.add("compare", cmd_compare, "Runs side by side: the spec and recipe fields that differ (as archspec "
                  "diff computes them) and the final metrics; --png overlays their curves.")  # fmt: skip
    q.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders (at least two)")
    q.add_argument("--png", type=Path, metavar="FILE", help="write test accuracy and train loss of every run, "
                   "overlaid, to this PNG")  # fmt: skip
    _add_format(q)


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format")


def _no_subcommand(args: argparse.Namespace) -> int:
    from archspec.errors import ArchspecError

    raise ArchspecError("runs needs a subcommand: archspec runs list [DIR] or archspec runs compare RUN...")
