"""Argument helpers shared by the command modules."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from archspec.arch.complexity import complexity
from archspec.arch.guard import LIMITS, Limits, check, parse_count
from archspec.arch.validate import load_spec, with_input
from archspec.errors import ArchspecError
from archspec.spec.schema import ResNetSpec

Handler = Callable[[argparse.Namespace], int]


class Commands:
    """Adds sub-commands to the `archspec` parser."""

    def __init__(self, sub: Any) -> None:
        self.sub = sub

    def add(self, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self.sub.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(handler=handler)
        return parser


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_spec_argument(parser: argparse.ArgumentParser, input_size: bool = True) -> None:
    parser.add_argument("spec", help="a spec file or a bundled preset name (see `archspec list`)")
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="PATH=VALUE",
                        help="override one field, e.g. --set stages[2].blocks=8 or --set width=0.5 "
                        "(value read as YAML; repeatable, applied in order)")  # fmt: skip
    if input_size:
        parser.add_argument("--input-size", nargs=3, type=positive_int, metavar=("C", "H", "W"),
                            help="override the spec's input size")  # fmt: skip


def spec_from_args(args: argparse.Namespace) -> ResNetSpec:
    """The spec an `add_spec_argument` command names, with its overrides applied."""
    spec = load_spec(args.spec, getattr(args, "sets", ()))
    size = getattr(args, "input_size", None)
    return with_input(spec, *size) if size else spec


def _count(text: str) -> int:
    try:
        return parse_count(text, "value")
    except ArchspecError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("value: ")) from None


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """--max-params, --max-macs, --max-activation-bytes (see archspec/guard.py)."""
    for limit in LIMITS:
        help_text = f"refuse specs over N {limit.unit} (default {limit.default:.3g}, or ${limit.env})"
        parser.add_argument(limit.flag, type=_count, metavar="N", help=help_text)


def guarded_spec(args: argparse.Namespace) -> tuple[ResNetSpec, Limits]:
    """The spec of the command, checked against the resource limits before torch is even imported."""
    spec = spec_from_args(args)
    limits = Limits.resolve(args.max_params, args.max_macs, args.max_activation_bytes)
    check(complexity(spec, batch_size=getattr(args, "batch_size", 1)), limits)
    return spec, limits
