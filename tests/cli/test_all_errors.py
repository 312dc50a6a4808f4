"""Errors that hide the rest (issue 22): every "(and N more)" can be listed with `--all-errors`, on every
command that reads a spec, recipe, sweep file or data; the list is in file order; a stage's `block:`
override's "allowed:" list names the fields of the block kind in force."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_one_line_error, cli
from imagedata import NAMES, write_folder

BAD = """\
name: bad
input: {channels: 1, height: 28, width: 28}
stem: {channels: 8, kernel_size: 3, stride: 1}
block: {kind: bottleneck}
stages:
  - channels: 32
    blocks: 1
    block: {expansion: 0, bogus: 1}
    stride: 5
head: {num_classes: 10}
"""


def test_validate_all_errors_lists_the_problems_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    lines = cli("validate", path, "--all-errors").stderr.splitlines()
    assert [line.split(":")[1:3] for line in lines] == [["8", "13"], ["8", "27"], ["9", "5"]], lines


def test_a_stage_block_override_lists_the_fields_of_the_kind_in_force(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = cli("validate", path)
    assert "unknown field 'bogus'" in result.stderr
    allowed = result.stderr.split("(allowed: ")[1].split(")")[0].split(", ")
    assert {"expansion", "groups", "width_per_group"} <= set(allowed)  # bottleneck's, accepted there


def test_two_bad_sets_name_one_and_all_errors_lists_both_in_the_order_given() -> None:
    sets = ["--set", "stages[0].blocks=0", "--set", "stem.channels=-1"]
    result = cli("show", "resnet18", *sets)
    assert_one_line_error(result, "(and 1 more; --all-errors lists them)")
    lines = cli("show", "resnet18", *sets, "--all-errors").stderr.splitlines()
    assert len(lines) == 2 and "--set stages[0].blocks=0" in lines[0] and "--set stem.channels=-1" in lines[1]


def test_a_bad_width_does_not_hide_the_other_problems_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_text("extends: fashion-resnet\nwidth: -1\nhead: {pool: avgg, num_classes: 10}\n")
    result = cli("validate", path)
    assert_one_line_error(result, "width: must be a positive number")
    assert "(and 1 more; --all-errors lists them)" in result.stderr
    lines = cli("validate", path, "--all-errors").stderr.splitlines()
    assert [line.split(": ")[1] for line in lines] == ["width", "head.pool"], lines


@pytest.mark.parametrize(
    "command",
    [["show"], ["trace"], ["summary"], ["complexity"], ["diff"], ["train"], ["evaluate"], ["bench"], ["export"],
     ["predict"], ["quantize"], ["check"], ["sweep"], ["weights", "import"], ["weights", "export"]],
)  # fmt: skip
def test_every_command_that_reads_input_takes_all_errors(command: list[str]) -> None:
    assert "--all-errors" in cli(*command, "--help").stdout


def test_train_on_a_folder_with_two_unreadable_files_lists_both(tmp_path: Path) -> None:
    write_folder(tmp_path / "pets" / "train", classes=2, per_class=2, rgb=False)
    write_folder(tmp_path / "pets" / "val", classes=2, per_class=2, rgb=False, split="test")
    for name in ("bad1.png", "bad2.png"):
        (tmp_path / "pets" / "train" / NAMES[0] / name).write_text("not a png")
    spec = tmp_path / "spec.yaml"
    spec.write_text(BAD.replace("bottleneck", "basic").replace("    block: {expansion: 0, bogus: 1}\n", "")
                    .replace("stride: 5", "stride: 1").replace("num_classes: 10", "num_classes: 2"))  # fmt: skip
    recipe = tmp_path / "r.yaml"
    data = f"data: {{kind: folder, root: {tmp_path / 'pets'}, workers: 0}}"
    recipe.write_text(f"name: pets\n{data}\nepochs: 1\nbatch_size: 4\noptimizer: {{kind: sgd, lr: 0.1}}\n")
    args = ["train", spec, "--recipe", recipe, "--out", tmp_path / "run", "--quiet"]
    assert_one_line_error(cli(*args), "bad1.png", "(and 1 more; --all-errors lists them)", "skip_unreadable")
    lines = cli(*args, "--all-errors").stderr.splitlines()
    assert len(lines) == 2 and "bad1.png" in lines[0] and "bad2.png" in lines[1] and "skip_unreadable" in lines[1]


@pytest.mark.parametrize("command", ["list", "schema"])
def test_commands_that_read_nothing_have_no_all_errors(command: str) -> None:
    assert "--all-errors" not in cli(command, "--help").stdout
