"""Grammar-aware fuzzing of the command line: mutated spec and recipe files and `--set` values, each run
through `archspec.cli.main` in this process, measured (CPU time, peak Python memory).

Every case must end in success or in one `archspec: error:` line (exit 2): never a traceback, a hang or
unbounded memory. tests/cli/test_fuzz.py runs a small budget of cases; benchmarks/fuzz_cli.py a large one.
"""

from __future__ import annotations

import contextlib
import copy
import io
import resource
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from archspec.recipe.presets import recipe_dir
from archspec.spec.presets import preset_dir

# Values that have broken parsers and numeric code somewhere: bounds, int64, floats, types, text.
NASTY: tuple[Any, ...] = (
    0, -1, 1, 2, 3, 7, 31, 32, 1000, 1001, 16384, 65536, 2**31, 2**63, -(2**63) - 1, 10**30, 2**64 + 1,
    1e308, -1e308, 1e-308, float("nan"), float("inf"), float("-inf"), 0.5, True, False, None, "", "64",
    "basic", "x" * 5000, "ü\u202e\u0000", "a\nb", [], {}, [1, 2, 3], {"kind": "basic"}, {"x": {"y": {"z": 1}}},
)  # fmt: skip
TEXT_DAMAGE = ("bom", "crlf", "nul", "tag", "second-document", "anchor-bomb", "deep", "truncate", "tab")


def bundled_texts(kind: str) -> list[str]:
    """The text of every bundled spec ("spec") or recipe ("recipe")."""
    folder = preset_dir() if kind == "spec" else recipe_dir()
    return [path.read_text() for path in sorted(folder.glob("*.yaml"))]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


@st.composite
def mutated_text(draw: st.DrawFn, texts: list[str]) -> str:
    """A bundled file with a few grammar-aware mutations: values replaced by nasty ones, keys dropped, renamed
    or added, then maybe damaged as text (BOM, CRLF, NUL, tags, a second document, an alias bomb, deep nesting)."""
    text = draw(st.sampled_from(texts))
    data = yaml.safe_load(text)
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["value", "value", "drop", "rename", "add"]))
        parent = path[:-1]
        container: Any = data
        for part in parent:
            container = container[part]
        if action == "value" or not path:
            value = draw(st.sampled_from(NASTY) | st.integers() | st.floats() | st.text(max_size=20))
            data = _set(data, path, copy.deepcopy(value))  # a copy: later mutations must not change NASTY
        elif action == "drop" and isinstance(container, dict):
            container.pop(path[-1], None)
        elif action == "drop" and isinstance(container, list) and len(container) > 1:
            container.pop(path[-1])
        elif action == "rename" and isinstance(container, dict):
            container[draw(st.text(max_size=12))] = container.pop(path[-1])
        elif isinstance(container, dict):
            key = draw(st.sampled_from(["kind", "extends", "width", "depth", "blocks", "ünïcode", "<<"]))
            container[key] = copy.deepcopy(draw(st.sampled_from(NASTY)))
    try:
        text = yaml.safe_dump(data, allow_unicode=draw(st.booleans()), sort_keys=False)
    except yaml.YAMLError:
        text = str(data)
    damage = draw(st.sampled_from((None, None, None, *TEXT_DAMAGE)))
    if damage == "bom":
        text = "\ufeff" + text
    elif damage == "crlf":
        text = text.replace("\n", "\r\n")
    elif damage == "nul":
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + "\x00" + text[cut:]
    elif damage == "tag":
        text = text.replace(":", ": !!python/object/apply:os.system", 1)
    elif damage == "second-document":
        text = text + "---\n" + text
    elif damage == "anchor-bomb":
        text = "a: &a [x, x, x, x, x, x, x, x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 8)}]\n" for i in range(7)
        )
    elif damage == "deep":
        depth = draw(st.integers(10, 3000))
        text = text + "deep: " + "[" * depth + "]" * depth + "\n"
    elif damage == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif damage == "tab":
        text = text.replace("  ", "\t", 1)
    return text


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    code: int
    stderr: str
    cpu_seconds: float
    wall_seconds: float
    peak_bytes: int  # Python allocations (tracemalloc), the largest at any one time

    @property
    def one_line(self) -> bool:
        """One `archspec: error:` line; `validate` prints one line per invalid file (per problem with
        --all-errors), without the prefix."""
        lines = self.stderr.strip().splitlines()
        if "Traceback" in self.stderr or not lines:
            return False
        if self.argv[0] == "validate" and "--all-errors" in self.argv:
            return all(len(line) < 1000 for line in lines)
        if self.argv[0] == "validate":
            return len(lines) == 1 and len(lines[0]) < 1000
        return len(lines) == 1 and lines[0].startswith("archspec: error: ") and len(lines[0]) < 1000

    @property
    def fine(self) -> bool:
        """Success, or a one-line user error."""
        return self.code == 0 or (self.code == 2 and self.one_line)

    @property
    def bounded(self) -> bool:
        """Fine, within CPU_SECONDS of CPU and PEAK_BYTES of Python memory."""
        return self.fine and self.cpu_seconds < CPU_SECONDS and self.peak_bytes < PEAK_BYTES


CPU_SECONDS = 2.0  # the bounds every case is held to (tests/cli/test_fuzz.py, benchmarks/fuzz_cli.py)
PEAK_BYTES = 300 << 20


def run_case(main: Callable[[list[str]], int], argv: list[str | Path]) -> Outcome:
    """`main(ARGV)` (archspec.cli.main: the fuzzer is its client, so the CLI is passed in) in this process,
    measured. Exceptions other than SystemExit propagate (a bug)."""
    args = tuple(str(arg) for arg in argv)
    out, err = io.StringIO(), io.StringIO()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    tracemalloc.start()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as stop:  # argparse's own errors
                code = int(stop.code or 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return Outcome(args, code, err.getvalue(), cpu, time.perf_counter() - wall, peak)


SPEC_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("validate",), ("show",), ("complexity",), ("complexity", "--format", "json"), ("complexity", "--layers"),
    ("diff", "resnet18"), ("validate", "--all-errors"), ("summary", "--max-params", "1"),
)  # fmt: skip
GUARD = ("--max-params", "1")  # a recipe that validates ends at the guard: nothing is trained


def spec_case(command: tuple[str, ...], path: Path) -> list[str | Path]:
    if command[0] == "diff":
        return ["diff", path, *command[1:]]
    return [command[0], path, *command[1:]]


def recipe_case(path: Path) -> list[str | Path]:
    return ["train", "fashion-resnet", "--recipe", path, *GUARD]


def set_case(value: str) -> list[str | Path]:
    return ["show", "resnet18", "--set", value]
