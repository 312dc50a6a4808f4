"""The command-line fuzz with a large budget: mutated bundled specs, recipes and --set values, in process.

    .venv/bin/python benchmarks/fuzz_cli.py [--examples 1000] [--seed 0]

Prints, per kind of case, how many ended in success and in a one-line error, how many did neither (a
bug: the first few are printed), and the slowest CPU time and largest Python memory peak of any case,
each beside the bounds the test suite holds every case to (archspec.testing.fuzz: CPU_SECONDS, PEAK_BYTES)
as a ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from archspec.cli import main as archspec_main
from archspec.report import table
from archspec.testing import fuzz
from archspec.testing.fuzz import CPU_SECONDS, PEAK_BYTES, Outcome


def collect(strategy: st.SearchStrategy[list[str | Path]], examples: int, seed_value: int) -> list[Outcome]:
    outcomes: list[Outcome] = []

    @seed(seed_value)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(argv: list[str | Path]) -> None:
        outcomes.append(fuzz.run_case(archspec_main, argv))

    run()
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="cases per kind (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="archspec-fuzz-"))

    def written(name: str) -> Callable[[str], Path]:
        def write(text: str) -> Path:
            path = folder / name
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            return path

        return write

    kinds = {
        "spec": st.tuples(st.sampled_from(fuzz.SPEC_COMMANDS),
                          fuzz.mutated_text(fuzz.bundled_texts("spec")).map(written("s.yaml")))
        .map(lambda pair: fuzz.spec_case(*pair)),
        "recipe": fuzz.mutated_text(fuzz.bundled_texts("recipe")).map(written("r.yaml")).map(fuzz.recipe_case),
        "--set": st.tuples(
            st.sampled_from(["stages[0].blocks", "width", "depth", "head", "stem.kernel_size", "input", "block"]),
            st.sampled_from([str(v) for v in fuzz.NASTY]) | st.text(max_size=30),
        ).map(lambda pair: fuzz.set_case(f"{pair[0]}={pair[1]}")),
    }  # fmt: skip
    rows = [("cases", "n", "ok", "one-line error", "neither", "max CPU s", f"vs {CPU_SECONDS:g} s", "max peak MB",
             f"vs {PEAK_BYTES >> 20} MB")]  # fmt: skip
    bad: list[Outcome] = []
    started = time.perf_counter()
    for name, strategy in kinds.items():
        outcomes = collect(strategy, args.examples, args.seed)
        worst_cpu = max(o.cpu_seconds for o in outcomes)
        worst_peak = max(o.peak_bytes for o in outcomes)
        wrong = [o for o in outcomes if not o.bounded]
        bad += wrong
        counts = (len(outcomes), sum(o.code == 0 for o in outcomes), sum(o.code == 2 and o.one_line for o in outcomes))
        rows.append((name, *map(str, counts), str(len(wrong)), f"{worst_cpu:.3f}", f"{worst_cpu / CPU_SECONDS:.2f}x",
                     f"{worst_peak / 1e6:.1f}", f"{worst_peak / PEAK_BYTES:.2f}x"))  # fmt: skip
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{time.perf_counter() - started:.0f} s in all; seed {args.seed}")  # fmt: skip
    print("\n".join(table(rows, right=range(1, 9))))
    for outcome in bad[:5]:
        print(f"NOT FINE: {' '.join(outcome.argv)[:200]} -> exit {outcome.code}: {outcome.stderr[-300:]!r}")


if __name__ == "__main__":
    main()
