"""`archspec diff` compares effective values and says in one line when two specs build the same network."""

from __future__ import annotations

from helpers import cli

from archspec import load_spec
from archspec.arch.diff import field_changes
from archspec.report import diff_report


def test_a_stage_override_is_compared_with_the_specs_block_not_a_missing_key() -> None:
    plain = load_spec("resnet50")
    gated = load_spec("resnet50", ["stages[2].block.squeeze_excite={ratio: 0.25}"])
    changes = [(change.path, change.before, change.after) for change in field_changes(plain, gated)]
    assert changes == [("stages[2].block.squeeze_excite", None, {"ratio": 0.25, "divisor": 8})]


def test_a_value_added_where_the_other_side_has_null_is_one_line() -> None:
    text = diff_report(load_spec("fashion-resnet"), load_spec("fashion-resnet", ["block.squeeze_excite={ratio: 0.25}"]))
    assert "  block.squeeze_excite: null -> {ratio: 0.25, divisor: 8}\n" in text
    assert "(absent)" not in text


def test_a_change_of_the_specs_block_is_not_repeated_per_stage() -> None:
    changes = [change.path for change in field_changes(load_spec("resnet50"), load_spec("seresnet50"))]
    assert not any(path.startswith("stages") for path in changes)


def test_identical_networks_say_so_in_one_line() -> None:
    text = diff_report(load_spec("resnet50"), load_spec("resnet50", ["name=other"]))
    assert text.count("\n") == 0 and "same network" in text and "differ only in name" in text


def test_diff_takes_set_and_compares_both_at_one_input_size() -> None:
    done = cli("diff", "resnet18", "resnet34", "--input-size", "3", "64", "64", "--set", "head.num_classes=10")
    assert done.returncode == 0, done.stderr
    assert "MACs per sample at input 3x64x64" in done.stdout
    assert "head.num_classes" not in done.stdout  # set on both sides
