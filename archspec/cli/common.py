"""Argument helpers shared by the command modules."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archspec.arch.guard import LIMITS, Limits, Workload, check_spec, parse_count, size_text
from archspec.arch.validate import load_spec, with_input
from archspec.config.text import clip
from archspec.errors import ArchspecError
from archspec.limits import SETTINGS, resolve
from archspec.spec.schema import ResNetSpec

if TYPE_CHECKING:
    from archspec.train.tracking import Tracking

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


# the names of archspec.train.loggers.LOGGERS (not imported here: the CLI starts without the training code;
# tests/train/test_tracking.py checks that this lists them all)
LOG_HELP = ("also log to these, comma-separated: tensorboard (event files in RUN/tensorboard; pip install "
            "'archspec[tensorboard]'), mlflow (an MLflow run; pip install 'archspec[mlflow]')")  # fmt: skip


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    """--log NAMES and --tracking-uri URI, as train and sweep take them."""
    parser.add_argument("--log", metavar="NAMES", help=LOG_HELP)
    parser.add_argument("--tracking-uri", metavar="URI",
                        help="the MLflow store of --log mlflow: http://HOST:PORT (a tracking server) or "
                        "sqlite:///PATH (default: $MLFLOW_TRACKING_URI, else sqlite:///DIR/mlflow.db beside the run "
                        "folders)")  # fmt: skip


def log_choice(args: argparse.Namespace) -> tuple[tuple[str, ...], Tracking]:
    """The loggers of --log (each known, its extra installed) and the MLflow store of --tracking-uri."""
    from archspec.train.loggers import check_extras, parse_loggers
    from archspec.train.tracking import Tracking

    names = tuple(parse_loggers(args.log or ""))
    check_extras(names)
    if args.tracking_uri is not None and "mlflow" not in names:
        raise ArchspecError(f"--tracking-uri {args.tracking_uri}: it is where --log mlflow logs; add --log mlflow")
    return names, Tracking(args.tracking_uri)


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
    """--max-params, --max-macs, --max-activation-bytes, --max-memory-bytes (archspec/limits.py: the policy)."""
    for limit in LIMITS:
        setting = SETTINGS[limit.field]
        example = "16GiB or 1MB" if limit.kind == "bytes" else "2e9"
        help_text = (f"refuse specs over N {limit.unit} (such as {example}; default {limit.format(limit.default)}, "
                     f"or ${setting.env})")  # fmt: skip
        parser.add_argument(setting.flag, type=_count, metavar="N", dest=f"max_{limit.field}", help=help_text)


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The command's limits: its flags, else ARCHSPEC_MAX_*, else the defaults (archspec.limits.resolve)."""
    return resolve(*(getattr(args, f"max_{limit.field}", None) for limit in LIMITS))


@dataclass(frozen=True)
class Admitted:
    """What a command's resource check let through: named if an allocation fails all the same."""

    spec: ResNetSpec
    workload: Workload
    memory_bytes: int
    limit: int  # the --max-memory-bytes in force


_admitted: ContextVar[Admitted | None] = ContextVar("admitted", default=None)


def enforce(spec: ResNetSpec, limits: Limits, workload: Workload) -> None:
    """Refuse `spec` over `limits` for `workload` (archspec.arch.guard), and remember what was admitted."""
    figures = check_spec(spec, limits, workload)
    _admitted.set(Admitted(spec, workload, figures["memory_bytes"], limits.memory_bytes))


def guarded_spec(args: argparse.Namespace, workload: Workload | None = None) -> tuple[ResNetSpec, Limits]:
    """The spec of the command, checked against the resource limits before torch is even imported (for an
    inference batch of the command's --batch-size, unless `workload` says otherwise)."""
    spec = spec_from_args(args)
    limits = limits_from_args(args)
    enforce(spec, limits, workload or Workload(getattr(args, "batch_size", 1)))
    return spec, limits


ALLOCATION_FAILURES = ("can't allocate memory", "not enough memory", "out of memory", "failed to allocate")


def is_allocation_failure(err: BaseException) -> bool:
    """A MemoryError, or torch's RuntimeError for an allocation the machine refused (CPU or CUDA)."""
    return isinstance(err, MemoryError) or (
        isinstance(err, RuntimeError) and any(text in str(err).lower() for text in ALLOCATION_FAILURES)
    )


def allocation_error(command: str, args: argparse.Namespace, err: BaseException) -> str:
    """One line for an allocation that failed inside `command`: its size, and the flag that refuses it first."""
    flag = SETTINGS["memory_bytes"].flag if hasattr(args, "max_memory_bytes") else SETTINGS["memory_bytes"].env
    detail = f" ({clip(str(err), 120)})" if str(err) else ""
    admitted = _admitted.get()
    if admitted is None:
        return (f"{command}: this machine could not allocate the memory the command needs{detail}; a smaller "
                f"batch or input size, or {flag} set to the memory free here, refuses it before it starts")  # fmt: skip
    spec, workload = admitted.spec, admitted.workload
    size = "x".join(map(str, (spec.input.channels, spec.input.height, spec.input.width)))
    what = "training" if workload.training else "inference"
    return (f"{command}: this machine could not allocate the memory for {spec.name} ({what}, batch "
            f"{workload.batch_size} of {size}: about {size_text(admitted.memory_bytes)} in all, within "
            f"{SETTINGS['memory_bytes'].flag} {size_text(admitted.limit)}){detail}; {flag} "
            f"{_below(admitted.memory_bytes)} or less would have refused it before anything was allocated")  # fmt: skip


def _below(value: int) -> str:
    """A round byte count under `value` to suggest as a limit (as the flags read it: 3GiB, 512MiB)."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value > size:
            return f"{max(1, (value - 1) // size)}{unit}"
    return f"{max(1, value - 1)}B"


def reset_admitted() -> None:
    _admitted.set(None)
