"""The `archspec` command line. Parses arguments, calls the library, prints; no logic of its own.

One module per group of commands (`cli/specs.py`, `cli/inspect.py`, ...), each with a
`register(commands)` function. Every ArchspecError becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn

from archspec.cli import (
    bench,
    check,
    complexity,
    export,
    inspect,
    kinds,
    predict,
    quantize,
    specs,
    sweep,
    train,
    upgrade,
    weights,
)
from archspec.cli.common import Commands, allocation_error, is_allocation_failure, reset_admitted
from archspec.config.diagnostics import printable
from archspec.errors import ArchspecError

GROUPS = (specs, inspect, complexity, train, bench, export, predict, quantize, weights, check, sweep, upgrade, kinds)
NO_INPUT = ("list", "schema", "kinds")  # the commands that read no spec, recipe, sweep file or data


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other user error
        self.exit(2, f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="archspec", description="Build, inspect and train ResNet variants written as YAML specs.")
    parser.add_argument("--version", action="version", version=f"archspec {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    commands = Commands(sub)
    for group in GROUPS:
        group.register(commands)
    for name, command in sub.choices.items():
        if name not in NO_INPUT:
            _add_all_errors(command)
    return parser


def _add_all_errors(parser: argparse.ArgumentParser) -> None:
    """`--all-errors` on a command that reads a spec, recipe, sweep file or data (and on each of its
    sub-commands): an error that says "(and N more)" then prints every problem, one line each."""
    subs = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    for action in subs:
        for inner in action.choices.values():
            _add_all_errors(inner)
    if subs or any("--all-errors" in action.option_strings for action in parser._actions):
        return  # a group of commands, or one with its own (validate: every problem of every file)
    parser.add_argument(
        "--all-errors",
        action="store_true",
        help="list every problem of an error, one line each (default: the first, and how many more)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    reset_admitted()
    try:
        return int(args.handler(args))
    except ArchspecError as err:
        lines = [problem.message for problem in err.errors] if getattr(args, "all_errors", False) else [str(err)]
        for line in lines:
            print(f"archspec: error: {one_line(line)}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as err:  # a shape within the limits that this machine cannot hold
        if not is_allocation_failure(err):
            raise
        print(f"archspec: error: {one_line(allocation_error(args.command, args, err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("archspec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `archspec ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def one_line(message: str) -> str:
    """The last guard of the one-line rule: a message holding a line break or a control character (text
    quoted from a library) is printed with it escaped."""
    return printable(message.strip())


def _version() -> str:
    try:
        return metadata.version("archspec")
    except metadata.PackageNotFoundError:  # run from a source tree without installing
        return "unknown (not installed)"


__all__ = ["main", "make_parser"]
