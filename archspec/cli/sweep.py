"""Commands that sweep a design space: sweep SWEEP.yaml, sweep --resume DIR, sweep report DIR."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from archspec.cli.common import Commands, add_log_arguments, log_choice, positive_int
from archspec.cli.threads import requested_threads
from archspec.errors import ArchspecError

USAGE = ("archspec sweep SWEEP.yaml [--out DIR] | archspec sweep --resume DIR | archspec sweep report DIR | "
         "archspec sweep report DIR DIR ... [--out EDF.png]")  # fmt: skip


def cmd_sweep(args: argparse.Namespace) -> int:
    target: list[str] = args.target
    if target[:1] == ["report"]:
        if len(target) < 2 or args.resume is not None:
            raise ArchspecError(f"sweep report takes sweep folders: archspec sweep report DIR [DIR ...] ({USAGE})")
        if len(target) > 2:
            return _compare([Path(name) for name in target[1:]], args)
        return _report(Path(target[1]), args.storage, args.format, args.top, args.family)
    if args.resume is not None:
        if target or args.sets or args.out is not None:
            raise ArchspecError("--resume DIR continues that sweep as it was defined; drop SWEEP.yaml, --set and --out")
        return _run(args, None)
    if len(target) != 1:
        raise ArchspecError(f"sweep needs one sweep file, or --resume DIR ({USAGE})")
    return _run(args, Path(target[0]))


def _run(args: argparse.Namespace, source: Path | None) -> int:
    from archspec.config.document import read_text
    from archspec.search.space import load_sweep
    from archspec.search.study import SweepOptions, default_sweep_dir, resume_sweep, start_sweep

    sweep = load_sweep(source, args.sets) if source is not None else None  # every file error before torch loads
    from archspec.deploy.inference import latency_ms

    loggers, tracking = log_choice(args)
    threads = requested_threads(args) or 1  # one per worker: add workers, not threads (study.SweepOptions)
    options = SweepOptions(args.workers, args.storage, args.device, latency_ms, not args.quiet, threads, loggers,
                           tracking)  # fmt: skip
    folder: Path = args.resume if sweep is None else (args.out or default_sweep_dir(sweep))
    try:
        if sweep is None:
            from archspec.search.folder import read_record

            read_record(folder)  # not a sweep folder: its one-line error before anything is printed
            print(f"resuming sweep {folder} with {args.workers} worker(s)")
            result = resume_sweep(folder, options)
            if result.recovered:
                trials = "trial" if len(result.recovered) == 1 else "trials"
                print(f"queued again: {trials} {', '.join(map(str, result.recovered))} (stopped mid-training)")
        else:
            assert source is not None
            settings = sweep.settings
            names = ", ".join(axis.name for axis in sweep.axes)
            print(f"sweep {settings.name}: {settings.n_trials} trials over {len(sweep.axes)} parameters ({names})")
            print(f"folder {folder}, {args.workers} worker(s), storage {args.storage or 'SQLite in the folder'}")
            result = start_sweep(sweep, folder, options, read_text(source), args.sets)
    except KeyboardInterrupt:
        print(f"the study is consistent; continue with: archspec sweep --resume {folder}", file=sys.stderr)
        raise
    counts = result.counts
    if result.stopped == "time budget":
        print(f"stopped at the time budget after {counts.trained} trained trials; --resume {folder} continues")
    elif result.stopped == "skip limit":
        print(f"stopped: {counts.skipped} candidates were rejected, invalid or duplicates; the space (or its "
              "constraints) leaves too few new trainable candidates")  # fmt: skip
    elif result.stopped == "incomplete":
        print(f"incomplete ({counts.trained} trained); --resume {folder} continues")
    return _report(folder, args.storage, "table", 20)


def _report(folder: Path, storage: str | None, form: str, top: int | None, family: str | None = None) -> int:
    from archspec.report import leaderboard_table
    from archspec.search.leaderboard import csv_text, json_data, load_leaderboard, write_report

    board = load_leaderboard(folder, storage, family)
    written = write_report(folder, board)
    if form == "csv":
        sys.stdout.write(csv_text(board))
    elif form == "json":
        print(json.dumps(json_data(board), indent=2))
    else:
        print(leaderboard_table(board, top))
        print(f"wrote {', '.join(str(path) for path in written)}")
    return 0


def _compare(folders: list[Path], args: argparse.Namespace) -> int:
    """sweep report A B ...: the sweeps' error EDFs on one figure, and a table of each one's EDF quantiles."""
    from archspec.report import design_spaces_table
    from archspec.search.leaderboard import comparison_path, load_leaderboard, write_comparison

    if args.family is not None or args.top is not None or args.format != "table":
        raise ArchspecError("sweep report with two or more folders compares whole sweeps (one EDF curve each): "
                            "drop --family, --top and --format")  # fmt: skip
    if args.storage is not None:
        raise ArchspecError("--storage names one study; sweep report A B reads each folder's own record")
    boards = [load_leaderboard(folder) for folder in folders]
    path = args.out or comparison_path(folders, boards)
    written = write_comparison(boards, path)
    print(design_spaces_table(boards))
    print(f"wrote {written}" if written else "no sweep has a complete trial yet: no figure written")
    return 0


def register(commands: Commands) -> None:
    p = commands.add(
        "sweep",
        cmd_sweep,
        "Sample a design space of specs and recipes under cost constraints, train the candidates as runs "
        "(Optuna), rank them: archspec sweep SWEEP.yaml, archspec sweep --resume DIR, archspec sweep report DIR.",
    )
    p.add_argument("target", nargs="*", metavar="SWEEP.yaml | report DIR [DIR ...]",
                   help="a sweep file, or: report DIR (one sweep's leaderboard and figures), or: report DIR DIR ... "
                   "(design spaces compared: their error EDFs on one figure)")  # fmt: skip
    p.add_argument("--out", type=Path, metavar="DIR | EDF.png",
                   help="sweep folder (default sweeps/<name>-<timestamp>); with sweep report A B: the figure "
                   "(default edf-A-vs-B.png beside A)")  # fmt: skip
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the sweep of DIR after a stop or crash")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="worker processes sharing the study (default 1, in this process)")  # fmt: skip
    p.add_argument("--storage", metavar="URL",
                   help="the study's storage: postgresql://USER@HOST:PORT/DB (shared by machines) or sqlite:///PATH "
                   "(default: study.db in the sweep folder)")  # fmt: skip
    p.add_argument("--set", action="append", default=[], dest="sets", metavar="PATH=VALUE",
                   help="change a field of the sweep file: --set n_trials=40 --set data.max_train=2000")  # fmt: skip
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help="torch threads per worker (default $ARCHSPEC_THREADS, else 1: add workers, not threads, "
                   "on a CPU)")  # fmt: skip
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_log_arguments(p)  # mlflow: the sweep as a parent run, each trained trial a child run
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="sweep report's output")
    p.add_argument("--top", type=positive_int, metavar="N", help="sweep report: show only the first N rows")
    p.add_argument("--family", metavar="PATH", help="sweep report: the space entry that splits edf.png (default: "
                   "the sweep's family)")  # fmt: skip
