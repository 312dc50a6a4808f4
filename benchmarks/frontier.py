"""Test accuracy against wall minutes on full Fashion-MNIST: the frontier of issue 20, one run per seed.

    python benchmarks/frontier.py                                   # fashion-resnet-deep + fashion-frontier, seeds 0, 1
    python benchmarks/frontier.py --seeds 0 --set epochs=40         # a longer point on the same curve
    python benchmarks/frontier.py --spec fashion-resnet --recipe fashion-best --seeds 0
    python benchmarks/frontier.py --parallel --threads 1 --set width=1.5      # both seeds at once, a core each
    python benchmarks/frontier.py --combine out.png "AdamW=a.log" "SGD=b.log"  # saved outputs on one figure

Each seed is one real `archspec train` (a subprocess, as a user runs it: data loading, a test pass every
epoch, checkpoints and plots included) on the installed Fashion-MNIST (`apt-get install -y
dataset-fashion-mnist`); the wall time is the whole process, start to exit. The table gives, per seed, the
final test accuracy of the raw weights and of the weight average (EMA), and the best accuracy reached within
`--budget` minutes of the start; the plot draws both accuracies against the minutes since the start, the
budget and the 0.950 mark. Nothing is timed against a target here: read the figures, note the machine.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from machine import machine  # benchmarks/machine.py, beside this script

MARK = 0.950  # the target accuracy within the budget


@dataclass
class Point:
    minutes: float  # since the process started, at the end of the epoch's test pass
    raw: float
    ema: float | None


@dataclass
class Run:
    seed: int
    folder: Path
    wall_minutes: float
    points: list[Point]
    name: str = ""  # the legend's label; default "seed N"

    @property
    def label(self) -> str:
        return self.name or f"seed {self.seed}"

    def best_within(self, minutes: float) -> float:
        inside = [max(p.raw, p.ema or 0.0) for p in self.points if p.minutes <= minutes]
        return max(inside, default=float("nan"))


def train(
    spec: str, recipe: str, seeds: list[int], sets: list[str], out: Path, threads: int | None, parallel: bool
) -> list[Run]:
    """One `archspec train` per seed: one after another, or all at once (`parallel`, one core each)."""
    if not parallel:
        return [finish(*start(spec, recipe, seed, sets, out, threads)) for seed in seeds]
    started = [start(spec, recipe, seed, sets, out, threads) for seed in seeds]
    return [finish(*each) for each in started]


def start(spec: str, recipe: str, seed: int, sets: list[str], out: Path, threads: int | None
          ) -> tuple[int, Path, list[str], float, subprocess.Popen[bytes]]:  # fmt: skip
    folder = out / f"seed{seed}"
    command = [sys.executable, "-m", "archspec", "train", spec, "--recipe", recipe, "--quiet", "--out", str(folder),
               "--set", f"seed={seed}"]  # fmt: skip
    for text in sets:
        command += ["--set", text]
    if threads is not None:
        command += ["--threads", str(threads)]
    return seed, folder, command, time.perf_counter(), subprocess.Popen(command)


def finish(seed: int, folder: Path, command: list[str], began: float, process: subprocess.Popen[bytes]) -> Run:
    returncode = process.wait()
    wall = (time.perf_counter() - began) / 60
    if returncode != 0:
        raise SystemExit(f"frontier: {' '.join(command)} failed with exit code {returncode}")
    with (folder / "metrics.csv").open() as file:
        rows = list(csv.DictReader(file))
    # metrics.csv's wall_seconds is each epoch's training and test pass; what came before the first epoch
    # (imports, decoding, the first checkpoint) is the rest of the process's wall time, spread as a start-up
    trained = sum(float(row["wall_seconds"]) for row in rows) / 60
    start, points, clock = max(0.0, wall - trained), [], 0.0
    for row in rows:
        clock += float(row["wall_seconds"]) / 60
        ema = row.get("test_acc_ema") or None
        points.append(Point(start + clock, float(row["test_acc"]), float(ema) if ema else None))
    return Run(seed, folder, wall, points)


def plot(runs: list[Run], budget: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    for run in runs:
        minutes = [p.minutes for p in run.points]
        (line,) = axes.plot(minutes, [p.raw for p in run.points], marker=".", label=f"{run.label}: weights")
        if any(p.ema is not None for p in run.points):
            axes.plot(minutes, [p.ema for p in run.points], linestyle="--", color=line.get_color(),
                      label=f"{run.label}: average (EMA)")  # fmt: skip
    axes.axhline(MARK, color="grey", linewidth=0.8)
    axes.axvline(budget, color="grey", linewidth=0.8, linestyle=":")
    low = min(p.raw for run in runs for p in run.points[len(run.points) // 3 :])
    axes.set_ylim(max(0.8, low - 0.01), 0.97)
    axes.set_xlabel("wall minutes since the start of `archspec train`")
    axes.set_ylabel("test accuracy (full Fashion-MNIST)")
    axes.set_title(textwrap.fill(title, 100), fontsize=8)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def read_printed(text: str, name: str) -> list[Run]:
    """The runs a frontier.py output shows: its "seed N: minutes:weights/EMA ..." lines, legend-named `name`."""
    runs = []
    for line in text.splitlines():
        match = re.fullmatch(r"\s+seed (\d+): (.*)", line)
        if match:
            points = []
            for cell in match.group(2).split():
                minutes, accuracies = cell.split(":")
                raw, _, ema = accuracies.partition("/")
                points.append(Point(float(minutes), float(raw), float(ema) if ema else None))
            runs.append(Run(int(match.group(1)), Path("."), points[-1].minutes, points, name))
    return runs


def combine(png: Path, logs: list[str], budget: float, title: str) -> None:
    """One figure of earlier runs: each LABEL=FILE is a saved frontier.py output."""
    runs = []
    for entry in logs:
        name, _, log = entry.partition("=")
        found = read_printed(Path(log).read_text(), name)
        if not found:
            raise SystemExit(f"frontier: {log}: no 'seed N: ...' lines of a frontier.py output")
        runs += found
    plot(runs, budget, png, title)
    print(f"curve: {png}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="fashion-resnet-deep")
    parser.add_argument("--recipe", default="fashion-frontier")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="passed to train")
    parser.add_argument("--budget", type=float, default=30.0, help="minutes: the best accuracy within them")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--parallel", action="store_true", help="all seeds at once (--threads 1: a core each)")
    parser.add_argument("--out", type=Path, default=Path("runs/frontier"))
    parser.add_argument("--png", type=Path, default=None, help="the curve (default OUT/frontier.png)")
    parser.add_argument("--combine", nargs="+", metavar=("PNG", "LABEL=LOG"),
                        help="train nothing: draw earlier runs' saved outputs on one figure, PNG")  # fmt: skip
    parser.add_argument("--title", default="", help="the --combine figure's title")
    args = parser.parse_args()
    if args.combine:
        combine(Path(args.combine[0]), args.combine[1:], args.budget, args.title)
        return

    started = machine()  # the load before the runs, not the runs' own
    print(started, flush=True)
    runs = train(args.spec, args.recipe, args.seeds, args.set, args.out, args.threads, args.parallel)
    print(f"\n{args.spec} with {args.recipe} {' '.join(args.set)}")
    within = f"best <= {args.budget:g} min"
    print(f"{'seed':>4}  {'epochs':>6}  {'wall min':>8}  {'final':>6}  {'final EMA':>9}  {within:>16}")
    for run in runs:
        last = run.points[-1]
        ema = f"{last.ema:.4f}" if last.ema is not None else "-"
        print(f"{run.seed:>4}  {len(run.points):>6}  {run.wall_minutes:>8.1f}  {last.raw:>6.4f}  {ema:>9}  "
              f"{run.best_within(args.budget):>16.4f}")  # fmt: skip
    print("\nminutes and test accuracy per epoch (weights / EMA):")
    for run in runs:
        cells = [f"{p.minutes:.1f}:{p.raw:.4f}/{p.ema:.4f}" if p.ema is not None else f"{p.minutes:.1f}:{p.raw:.4f}"
                 for p in run.points]  # fmt: skip
        print(f"  seed {run.seed}: {' '.join(cells)}")
    png = args.png or args.out / "frontier.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    plot(runs, args.budget, png, f"{args.spec} + {args.recipe} {' '.join(args.set)}; {started}")
    print(f"\ncurve: {png}")


if __name__ == "__main__":
    main()
