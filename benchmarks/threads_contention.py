"""One training epoch with archspec's default threads beside 1 and 2 threads, on the machine as it is and with
a second process spinning on one core, side by side in one run.

    .venv/bin/python benchmarks/threads_contention.py [--rounds 2] [--max-train 280]

Each measurement is a fresh `archspec train fashion-resnet --recipe fashion-best --data-dir sample` process
(one epoch; $OMP_NUM_THREADS unset, so the default is archspec's own choice); the figure is the examples/s
it prints for the epoch. Rounds interleave every setting (each round starting with another), so a change in
the machine's load mid-run hits them all. Before each run the busy cores are read as archspec reads them
(archspec.runtime.other_load), so a machine that other jobs share says so in the table.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import machine  # benchmarks/machine.py, beside this script

from archspec.runtime import other_load

SETTINGS = (("default", []), ("1 thread", ["--threads", "1"]), ("2 threads", ["--threads", "2"]))
SPIN = "while True: pass"


def epoch(max_train: int, threads: list[str], folder: Path) -> tuple[float, str]:
    """(examples/s of one epoch, the threads warning if archspec printed one)."""
    env = {key: value for key, value in os.environ.items() if key not in ("OMP_NUM_THREADS", "ARCHSPEC_THREADS")}
    command = [sys.executable, "-m", "archspec", "train", "fashion-resnet", "--recipe", "fashion-best",
               "--data-dir", "sample", "--max-train", str(max_train), "--max-test", "100", "--set", "epochs=1",
               "--quiet", "--out", str(folder), *threads]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    rate = re.search(r"([\d.]+) examples/sec on", done.stdout)
    assert rate is not None, done.stdout
    warning = next((line for line in done.stderr.splitlines() if "torch runs on" in line), "")
    return float(rate.group(1)), warning


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-train", type=int, default=280)
    args = parser.parse_args()
    rates: dict[tuple[str, str], list[float]] = {}
    busy: dict[str, list[float]] = {"as it is": [], "+1 spinning core": []}
    chosen: dict[tuple[str, str], set[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for condition in busy:
                spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if condition != "as it is" else None
                try:
                    for name, flags in SETTINGS[round_ % 3 :] + SETTINGS[: round_ % 3]:  # none always first
                        load = other_load(0.5)
                        busy[condition].append(load.busy if load.busy is not None else float("nan"))
                        rate, warning = epoch(args.max_train, flags, Path(tmp) / f"{round_}-{condition}-{name}")
                        rates.setdefault((condition, name), []).append(rate)
                        threads = re.search(r"torch runs on (\d+) thread", warning)
                        ran = threads.group(1) if threads else str(len(os.sched_getaffinity(0)))  # torch's own
                        chosen.setdefault((condition, name), set()).add(ran)
                        print(f"round {round_ + 1}, {condition}, {name}: {rate:.1f} examples/s "
                              f"(busy cores before: {busy[condition][-1]:.2f})", file=sys.stderr)  # fmt: skip
                finally:
                    if spinner is not None:
                        spinner.kill()
                        spinner.wait()
    print(f"{machine()}; median of {args.rounds} rounds, one epoch of {args.max_train} images each")
    print(f"{'machine':<18} {'busy cores':>10}  {'threads':<10} {'ran on':<10} {'examples/s':>10} {'vs 1 thread':>11}")
    for condition, seen in busy.items():
        one = statistics.median(rates[(condition, "1 thread")])
        for name, _ in SETTINGS:
            rate = statistics.median(rates[(condition, name)])
            ran = "/".join(sorted(chosen[(condition, name)])) if name == "default" else name.split()[0]
            print(f"{condition:<18} {statistics.median(seen):>10.2f}  {name:<10} {ran:<10} {rate:>10.1f} "
                  f"{rate / one:>10.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
