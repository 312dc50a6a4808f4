"""Argument helpers shared by the command modules."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from archspec.arch.guard import LIMITS, Limits, Workload, check_spec, parse_count
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
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text[:40]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text[:40]!r}")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds above 0 and at most a day (nan, inf, 0 and negatives would never end or mean
    nothing)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text[:40]!r}") from None
    if not (math.isfinite(value) and 0 < value <= 86_400):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0 and at most 86400, got {text[:40]!r}")
    return value


def add_set_argument(parser: argparse.ArgumentParser, what: str = "the spec") -> None:
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="PATH=VALUE",
                        help=f"override one field of {what}, e.g. --set stages[2].blocks=8 or --set width=0.5 "
                        "(value read as YAML; repeatable, applied in order)")  # fmt: skip


def add_input_size_argument(parser: argparse.ArgumentParser, what: str = "the spec's") -> None:
    parser.add_argument("--input-size", nargs=3, type=positive_int, metavar=("C", "H", "W"),
                        help=f"override {what} input size")  # fmt: skip


SPEC_HELP = "a spec file or a bundled preset name (see `archspec list`)"


def add_spec_argument(parser: argparse.ArgumentParser, input_size: bool = True, help_text: str = SPEC_HELP) -> None:
    parser.add_argument("spec", help=help_text)
    add_set_argument(parser)
    if input_size:
        add_input_size_argument(parser)


def sized(spec: ResNetSpec, size: list[int] | tuple[int, ...] | None) -> ResNetSpec:
    """`spec` at the `--input-size` given, if any."""
    return with_input(spec, *size) if size else spec


def spec_from_args(args: argparse.Namespace) -> ResNetSpec:
    """The spec an `add_spec_argument` command names, with its overrides applied."""
    return sized(load_spec(args.spec, getattr(args, "sets", ())), getattr(args, "input_size", None))


def _count(text: str) -> int:
    try:
        return parse_count(text, "value")
    except ArchspecError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("value: ")) from None


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """--max-params, --max-macs, --max-activation-bytes, --max-memory-bytes (see archspec/arch/guard.py)."""
    for limit in LIMITS:
        example = "16GiB or 1MB" if limit.kind == "bytes" else "2e9"
        help_text = (f"refuse specs over N {limit.unit} (such as {example}; default {limit.format(limit.default)}, "
                     f"or ${limit.env})")  # fmt: skip
        parser.add_argument(limit.flag, type=_count, metavar="N", dest=f"max_{limit.field}", help=help_text)


def limits_from_args(args: argparse.Namespace) -> Limits:
    return Limits.resolve(*(getattr(args, f"max_{limit.field}", None) for limit in LIMITS))


def guarded_spec(args: argparse.Namespace, workload: Workload | None = None) -> tuple[ResNetSpec, Limits]:
    """The spec of the command, checked against the resource limits before torch is even imported (for an
    inference batch of the command's --batch-size, unless `workload` says otherwise)."""
    spec = spec_from_args(args)
    limits = limits_from_args(args)
    check_spec(spec, limits, workload or Workload(getattr(args, "batch_size", 1)))
    return spec, limits
