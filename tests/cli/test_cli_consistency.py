"""The command line agrees with the docs: every spec command takes --set and --input-size, every command that
builds a model takes the limit flags, help texts say what the README says, outputs name their conventions."""

from __future__ import annotations

import argparse

import pytest
from helpers import cli

from archspec.cli import make_parser
from archspec.limits import SETTINGS

BUILDS_A_MODEL = {"summary", "trace", "bench", "export", "train", "check"}


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = make_parser()
    return parser._subparsers._group_actions[0].choices  # type: ignore[union-attr,no-any-return]


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def test_every_command_that_takes_a_spec_takes_set_and_input_size() -> None:
    taking = {name for name, sub in commands().items() if any(a.dest in ("spec", "specs", "a") for a in sub._actions)}
    assert {"validate", "show", "complexity", "diff", "summary", "trace", "bench", "export", "train", "check"} <= taking
    for name in taking:
        assert {"--set", "--input-size"} <= options(commands()[name]), name


def test_every_command_that_builds_a_model_takes_the_limit_flags() -> None:
    for name in BUILDS_A_MODEL:
        assert {setting.flag for setting in SETTINGS.values()} <= options(commands()[name]), name


def test_limit_flags_take_units_and_help_shows_them() -> None:
    done = cli("summary", "resnet18", "--max-activation-bytes", "1MB")
    assert done.returncode == 2 and "1,000,000" in done.stderr and "--max-activation-bytes" in done.stderr
    assert cli("summary", "cifar-resnet20", "--depth", "1", "--max-memory-bytes", "2GiB").returncode == 0
    text = commands()["summary"].format_help()
    assert "8 GiB" in text and "e+" not in text


def test_version_and_export_help() -> None:
    done = cli("--version")
    assert done.returncode == 0 and done.stdout.startswith("archspec ")
    text = " ".join(commands()["export"].format_help().split())
    assert "checkpoint" in text and "run folder" in text


@pytest.mark.parametrize("seconds", ["nan", "inf", "0", "-1", "1e9", "x"])
def test_bench_seconds_must_be_a_finite_positive_duration(seconds: str) -> None:
    done = cli("bench", "cifar-resnet20", "--seconds", seconds)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "--seconds" in done.stderr


def test_complexity_layers_fill_stride_and_receptive_field_and_name_the_convention() -> None:
    done = cli("complexity", "resnet18", "--layers")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("stage4.1.main.conv2")]
    assert rows and rows[0][-2:] == ["32", "435"]  # ResNet-18's last conv: stride 32, receptive field 435
    convention = [line for line in done.stdout.splitlines() if line.startswith("Convention:")]
    assert len(convention) == 1 and "1,814,083,944" in convention[0]  # torchinfo's count for the same spec


def test_summary_names_its_convention_in_one_line() -> None:
    done = cli("summary", "d2l-resnet18", "--depth", "1")
    assert done.returncode == 0, done.stderr
    convention = [line for line in done.stdout.splitlines() if line.startswith("Convention:")]
    assert len(convention) == 1 and "archspec complexity" in convention[0]


def test_validate_and_train_take_set_and_input_size(tmp_path: object) -> None:
    done = cli("validate", "resnet18", "resnet34", "--set", "head.num_classes=10", "--input-size", "3", "64", "64")
    assert done.returncode == 0 and done.stdout.count("ok  ") == 2
    done = cli("train", "resnet18", "--input-size", "1", "28", "28", "--set", "resize=null", "--max-params", "10")
    assert done.returncode == 2 and "parameters exceeds the limit of 10" in done.stderr
