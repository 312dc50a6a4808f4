"""Command: kinds (every block, stem and shortcut kind and primitive, with the package it comes from)."""

from __future__ import annotations

import argparse
import json
import sys

import archspec.arch.primitives  # noqa: F401 (registers archspec's own primitives)
from archspec.cli.common import Commands
from archspec.config.diagnostics import clip
from archspec.spec import kinds


def cmd_kinds(args: argparse.Namespace) -> int:
    rows = [(kind.category, kind.name, kind.package, kind.description)
            for category in kinds.CATEGORIES for kind in kinds.kinds(category).values()]  # fmt: skip
    problems = kinds.problems()
    if args.format == "json":
        print(json.dumps({"kinds": [dict(zip(("kind", "name", "package", "description"), row, strict=True))
                                    for row in rows],
                          "problems": [str(problem) for problem in problems]}, indent=2))  # fmt: skip
    else:
        table = [("kind", "name", "package", "description"), *rows]
        widths = [max(len(row[i]) for row in table) for i in range(3)]
        for category, name, package, description in table:
            print(f"{category:<{widths[0]}}  {name:<{widths[1]}}  {package:<{widths[2]}}  {_short(description)}")
    for problem in problems:
        print(f"archspec: error: {clip(str(problem), 300)}", file=sys.stderr)
    return 2 if problems else 0


def _short(text: str, limit: int = 90) -> str:
    """A description on one line, cut at a word near `limit` characters."""
    text = clip(text, 10 * limit)
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def register(commands: Commands) -> None:
    p = commands.add("kinds", cmd_kinds, "Every block, stem and shortcut kind and primitive, with the package it "
                     "comes from (archspec, or an installed plugin's distribution); a plugin that did not load is "
                     "one line on stderr each (exit 2).")  # fmt: skip
    p.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
