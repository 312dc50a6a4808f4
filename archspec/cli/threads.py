"""`--threads N` and $ARCHSPEC_THREADS, for every command that runs torch on the CPU (archspec.runtime decides
the default)."""

from __future__ import annotations

import argparse
import os
import sys

from archspec.cli.common import positive_int
from archspec.errors import ArchspecError

THREADS_ENV = "ARCHSPEC_THREADS"  # archspec.runtime.THREADS_ENV (imported there with torch, so restated here)


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help=f"torch threads (default ${THREADS_ENV}, else one per core, fewer where other work "
                        "keeps cores busy, with a warning)")  # fmt: skip


def requested_threads(args: argparse.Namespace) -> int | None:
    """--threads, else $ARCHSPEC_THREADS, else None (archspec.runtime.choose_threads decides)."""
    if getattr(args, "threads", None) is not None:
        return int(args.threads)
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError as err:
        raise ArchspecError(f"${THREADS_ENV}: {err}") from None


def use_threads(args: argparse.Namespace) -> None:
    """Set torch's threads for this command; the one-line warning, if any, on stderr."""
    from archspec.runtime import use_threads as apply

    chosen = apply(requested_threads(args))
    if chosen.warning:
        print(chosen.warning, file=sys.stderr)
