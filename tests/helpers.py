"""Helpers shared by the tests: a tiny 28x28 spec, and the `archspec` command in-process (cli) or as a real
subprocess (run_cli, where the process itself is the point: exit codes of a killed run, imports)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

# Presets over this many parameters are too big to build on the CPU in every test that walks the presets
# (regnet_x_32gf, regnet_y_32gf, regnet_y_128gf): their modules are counted on the meta device instead, and
# tests/nn/test_layouts_regnet*.py builds them against their references.
BUILD_LIMIT = 100_000_000


def buildable_presets() -> list[str]:
    """The bundled presets under BUILD_LIMIT parameters (counted from the spec, nothing built)."""
    from archspec import load_spec, lower, preset_names

    return [name for name in preset_names() if lower(load_spec(name)).params <= BUILD_LIMIT]


# Small enough that an epoch over 2,000 images takes a second or two on one core.
TINY_SPEC = """\
name: tiny
input: {channels: 1, height: 28, width: 28}
stem: {channels: 8, kernel_size: 3, stride: 1}
block: {kind: basic}
stages:
  - {channels: 8, blocks: 1}
  - {channels: 16, blocks: 1, stride: 2}
head: {num_classes: 10}
"""

# A recipe for the tiny spec that learns within two short epochs (momentum SGD, no resize).
TINY_SETS = [
    "--set", "resize=null",
    "--set", "batch_size=32",
    "--set", "optimizer.momentum=0.9",
    "--set", "optimizer.lr=0.05",
]  # fmt: skip


def cli_env() -> dict[str, str]:
    # One thread: deterministic CPU kernels, and polite to the other jobs on a 2-core machine.
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`archspec ARGS` in this process (main() itself): for output and error-format tests, where a subprocess
    is not the point. Same result type as run_cli."""
    from archspec.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = [str(arg) for arg in args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse's own errors and --help
            code = int(stop.code or 0)
    return subprocess.CompletedProcess(["archspec", *argv], code, out.getvalue(), err.getvalue())


def run_cli(*args: str | Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "archspec", *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"archspec {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit code 2, one line on stderr naming every fragment, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# --- data-parallel runs (tests/train/test_distributed.py, test_elastic.py) ------------------------------------

# No normalisation: then N processes at batch B/N compute exactly the gradient of one process at batch B
# (up to float summation order), so the two runs must agree to rounding. With batch norm each process
# normalises its own share, which changes the numbers by design (docs/distributed.md).
NORM_FREE_SPEC = """\
name: tiny-norm-free
input: {channels: 1, height: 28, width: 28}
stem: {channels: 8, kernel_size: 3, stride: 1, norm: none}
block: {kind: basic, norm: none, conv_bias: true}
stages:
  - {channels: 8, blocks: 1}
  - {channels: 16, blocks: 1, stride: 2}
head: {num_classes: 10}
"""
# fp32: bf16 autocast (the default where the CPU has it natively) would round those differences up.
DDP_SETS = ["--set", "resize=null", "--set", "batch_size=32", "--set", "optimizer.momentum=0.9",
            "--set", "optimizer.lr=0.05", "--set", "channels_last=false", "--set", "precision=fp32"]  # fmt: skip
DDP_TRAIN, DDP_TEST = 640, 256
DDP_DATA = ["--data-dir", "sample", "--max-train", str(DDP_TRAIN), "--max-test", str(DDP_TEST), "--quiet"]


def torchrun(*args: str) -> list[str]:
    """The torchrun command line (torch's own launcher, from this interpreter)."""
    return [sys.executable, "-m", "torch.distributed.run", *args]


def read_metrics(run: Path) -> list[dict[str, float]]:
    import json

    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_training(a: list[dict[str, float]], b: list[dict[str, float]], examples: int = DDP_TRAIN) -> None:
    """Two runs' metrics rows agree: float sums in another order give 1e-4 relative on the loss; accuracies may
    differ by one example."""
    import pytest

    assert len(a) == len(b)
    for left, right in zip(a, b, strict=True):
        assert left["train_loss"] == pytest.approx(right["train_loss"], rel=1e-4)
        assert abs(left["train_acc"] - right["train_acc"]) <= 1 / examples
        assert abs(left["test_acc"] - right["test_acc"]) <= 1 / DDP_TEST
