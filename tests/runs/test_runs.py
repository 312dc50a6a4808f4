"""archspec.runs and `archspec runs list/compare`: a row per run folder (sweep trials included), the status of
each, the fields that differ as `archspec diff` finds them, the overlaid curves, and one-line refusals.

The run folders are written through RunDir (the layout's one owner) with made-up metrics: no training needed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import TINY_SPEC, assert_one_line_error, cli

from archspec.arch.diff import field_changes
from archspec.arch.validate import load_spec
from archspec.artifacts.rundir import COLUMNS, RunDir
from archspec.recipe.schema import dump_recipe, load_recipe
from archspec.runs.compare import compare_runs, differences_of
from archspec.runs.folders import list_runs
from archspec.spec.io import dump_spec


def make_run(path: Path, spec_sets: list[str] = (), recipe_sets: list[str] = (), epochs_done: int = 2) -> Path:
    spec = load_spec(TINY_SPEC, list(spec_sets))
    recipe = load_recipe("fashion-best", ["epochs=2", *recipe_sets])
    run = RunDir(path)
    run.path.mkdir(parents=True)
    run.write_text(run.spec_file, dump_spec(spec))
    run.write_text(run.recipe_file, dump_recipe(recipe))
    rows = [dict(zip(COLUMNS, (e, 1.0 / e, 0.5 + e / 10, 0.4 + e / 10, 100.0, 3.0, 0.01), strict=True))
            for e in range(1, epochs_done + 1)]  # fmt: skip
    run.write_metrics(rows)
    return path


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    make_run(root / "a")
    make_run(root / "b", ["stages[1].channels=32"], ["optimizer.lr=0.01"])
    make_run(root / "c", epochs_done=1)  # stopped after one of two epochs
    sweep = root / "sweeps" / "s1"
    (sweep / "trials").mkdir(parents=True)
    (sweep / "sweep.json").write_text("{}")
    shutil.copytree(root / "a", sweep / "trials" / "0000")
    (root / "notes").mkdir()  # neither a run nor a sweep: skipped
    return root


def test_list_has_a_row_per_run_and_trial_with_its_status(runs: Path) -> None:
    rows = {row.name: row for row in list_runs(runs)}
    assert set(rows) == {"a", "b", "c", "sweeps/s1/trials/0000"}
    assert rows["a"].status == "finished" and rows["c"].status == "stopped"
    assert rows["sweeps/s1/trials/0000"].sweep == "s1"
    a = rows["a"]
    assert (a.spec, a.recipe, a.epochs, a.total_epochs) == ("tiny", "fashion-best", 2, 2)
    assert a.best_acc == pytest.approx(0.6) and a.wall_seconds == pytest.approx(6.0)
    assert a.params == rows["c"].params != rows["b"].params
    with RunDir(runs / "c").lock():  # a process writing into it: running, with its pid
        row = next(row for row in list_runs(runs) if row.name == "c")
        assert row.status == "running" and row.writer is not None


def test_a_broken_run_is_a_row_with_a_note(runs: Path) -> None:
    (runs / "b" / "metrics.jsonl").write_text("{not json\n")
    row = next(row for row in list_runs(runs) if row.name == "b")
    assert row.status == "stopped" and "metrics.jsonl:1" in row.note


def test_compare_lists_what_differs_as_diff_does(runs: Path) -> None:
    comparison = compare_runs([runs / "a", runs / "b"])
    spec_paths = [d.path for d in comparison.differences if d.part == "spec"]
    a, b = (load_spec(str(runs / name / "spec.yaml")) for name in "ab")
    assert spec_paths == [change.path for change in field_changes(a, b)]
    recipe = [(d.path, d.values) for d in comparison.differences if d.part == "recipe"]
    assert recipe == [("optimizer.lr", (0.004, 0.01))]


def test_differences_of_many_descend_only_where_all_are_mappings() -> None:
    assert differences_of([{"x": {"y": 1}}, {"x": {"y": 2}}, {"x": None}]) == [(("x",), ({"y": 1}, {"y": 2}, None))]
    assert differences_of([{"x": [1, 2]}, {"x": [1]}])[0][0] == ("x", 1)


def test_cli_list_formats(runs: Path) -> None:
    table = cli("runs", "list", runs)
    assert table.returncode == 0, table.stderr
    assert "sweeps/s1/trials/0000" in table.stdout and "stopped" in table.stdout
    data = json.loads(cli("runs", "list", runs, "--format", "json").stdout)
    assert {row["run"] for row in data} >= {"a", "b"}
    csv = cli("runs", "list", runs, "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("run,path,status") and len(csv) == 5


def test_cli_compare_with_png(runs: Path, tmp_path: Path) -> None:
    png = tmp_path / "curves.png"
    result = cli("runs", "compare", runs / "a", runs / "b", runs / "c", "--png", png)
    assert result.returncode == 0, result.stderr
    assert "stages[1].channels" in result.stdout and "optimizer.lr" in result.stdout
    assert "best test acc" in result.stdout and png.stat().st_size > 0
    data = json.loads(cli("runs", "compare", runs / "a", runs / "b", "--format", "json").stdout)
    assert {d["field"] for d in data["differences"]} >= {"optimizer.lr"}
    rows = cli("runs", "compare", runs / "a", runs / "b", "--format", "csv").stdout.splitlines()
    assert rows[0] == "part,field,a,b"


def test_cli_refusals(runs: Path, tmp_path: Path) -> None:
    assert_one_line_error(cli("runs", "compare", runs / "a", runs / "notes"), "notes", "not a run folder")
    assert_one_line_error(cli("runs", "compare", runs / "a"), "at least two")
    assert_one_line_error(cli("runs", "list", tmp_path / "nowhere"), "no such folder")
    assert_one_line_error(cli("runs"), "subcommand")
