"""What `--log mlflow` costs a training run, side by side with the same run unlogged.

    python benchmarks/tracking_cost.py                       # 3 rounds, 3 epochs of the tiny spec on the sample
    python benchmarks/tracking_cost.py --server http://127.0.0.1:5000 --rounds 5

Each round trains the same small run (the tests' tiny 28x28 spec, 1,000 sample images, batch 32, 3 epochs)
once per variant, interleaved so that other work on the machine weighs on all alike: no logger; MLflow's
default store, a SQLite file beside the run folder, new (its one-time table creation counted) and made
before (by a run outside the timing); and, with --server, a tracking server. Each variant's time in the
logger's own code is measured too (wrapping MlflowLogger): opening the store and the run (__init__ and
on_start), the epochs (per epoch: metrics, steps), and the end (artifacts, best checkpoint), so the table
separates what logging costs from the training's own noise. The median round is kept.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import archspec
from archspec.recipe import load_recipe
from archspec.train.runs import DataOptions, train_run
from archspec.train.tracking import MlflowLogger, Tracking

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import TINY_SPEC as SPEC  # the tests' tiny spec: one copy of it

HOOKS = ("on_start", "on_epoch_start", "on_step", "on_evaluate", "on_epoch_end", "on_end")


PART = {"on_start": "open", "on_end": "end"}  # every other hook: the epochs


class Timed(MlflowLogger):
    """MlflowLogger with the seconds spent in its code added up by part: open (its store, in __init__, and
    on_start), epochs, end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        began = time.perf_counter()
        super().__init__(*args, **kwargs)
        self.seconds = {"open": time.perf_counter() - began, "epochs": 0.0, "end": 0.0}
        for name in HOOKS:
            setattr(self, name, self._timed(getattr(self, name), PART.get(name, "epochs")))

    def _timed(self, hook: Callable[..., None], part: str) -> Callable[..., None]:
        def run(*args: Any) -> None:
            began = time.perf_counter()
            try:
                hook(*args)
            finally:
                self.seconds[part] += time.perf_counter() - began

        return run


def one_run(root: Path, tracking: Tracking | None, epochs: int) -> tuple[float, dict[str, float]]:
    """(wall seconds of the run, seconds in the logger by part)."""
    recipe = load_recipe("d2l", [f"epochs={epochs}", "resize=null", "batch_size=32", "optimizer.momentum=0.9"])
    lines: list[str] = []
    began = time.perf_counter()
    logger = Timed(lines.append, tracking) if tracking is not None else None
    train_run(archspec.load_spec(SPEC), recipe, root / "run", DataOptions("sample", 1000, 500), quiet=True,
              log=lines.append, callbacks=[logger] if logger else [])  # fmt: skip
    wall = time.perf_counter() - began
    if any(line.startswith("WARNING: mlflow") for line in lines):
        raise SystemExit(f"the logger failed: {[line for line in lines if line.startswith('WARNING')]}")
    return wall, logger.seconds if logger else {"open": 0.0, "epochs": 0.0, "end": 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--server", help="also log to this tracking server")
    args = parser.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    torch.set_num_threads(1)
    made = Path(tempfile.mkdtemp(prefix="archspec-tracking-"))
    one_run(made, Tracking(), 1)  # its store: made/mlflow.db, beside its run folder made/run
    store = f"sqlite:///{made / 'mlflow.db'}"
    variants: dict[str, Tracking | None] = {
        "no logger": None,
        "mlflow, new SQLite file beside the run": Tracking(),
        "mlflow, SQLite file made before": Tracking(store),
    }
    if args.server:
        variants[f"mlflow, server {args.server}"] = Tracking(args.server)
    results: dict[str, list[tuple[float, dict[str, float]]]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, tracking in variants.items():
            with tempfile.TemporaryDirectory() as root:
                results[name].append(one_run(Path(root), tracking, args.epochs))
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")), "?")
    print(f"machine: {model}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}; "
          f"python {platform.python_version()}, torch {torch.__version__}, 1 thread")  # fmt: skip
    print(f"tiny spec, 1,000 sample images, batch 32, {args.epochs} epochs; median of {args.rounds} rounds\n")
    base = statistics.median(wall for wall, _ in results["no logger"])
    print(f"{'variant':<42} {'run s':>7} {'ratio':>6} {'open s':>7} {'per epoch s':>12} {'end s':>6}")
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        part = {key: statistics.median(s[key] for _, s in runs) for key in ("open", "epochs", "end")}
        print(
            f"{name:<42} {wall:7.2f} {wall / base:6.2f} {part['open']:7.2f} {part['epochs'] / args.epochs:12.3f} "
            f"{part['end']:6.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
