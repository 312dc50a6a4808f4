"""Composition: extends, deep merge, --set overrides and width/depth multipliers."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli

from archspec import SpecError, load_spec, lower
from archspec.cli import main, make_parser
from archspec.cli.common import spec_from_args
from archspec.spec.compose import scaled_depth, scaled_width, stage_divisor


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_extends_a_preset_and_overrides_a_nested_field(tmp_path: Path) -> None:
    path = write(tmp_path, "se.yaml", "extends: resnet50\nname: se\nblock:\n  squeeze_excite: {ratio: 0.0625}\n")
    spec = load_spec(path)
    assert spec.name == "se"
    assert spec.block.kind == "bottleneck" and spec.block.expansion == 4  # type: ignore[union-attr]
    assert lower(spec).params == lower(load_spec("seresnet50")).params


def test_extends_a_path_relative_to_the_file_and_replaces_lists(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "extends: cifar-resnet20\nname: base\nhead: {num_classes: 100}\n")
    child = write(
        tmp_path, "sub/child.yaml", "extends: ../base.yaml\nname: child\nstages:\n  - {channels: 16, blocks: 1}\n"
    )
    spec = load_spec(child)
    assert (spec.name, spec.head.num_classes, len(spec.stages)) == ("child", 100, 1)
    assert spec.input.height == 32


def test_a_mapping_of_another_kind_replaces_the_base_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "deep.yaml", "extends: resnet18\nstem: {kind: deep, channels: 64}\n")
    stem = load_spec(path).stem
    assert stem.kind == "deep" and stem.width == 32


def test_cycles_are_errors_at_the_extends_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "name: a\nextends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(SpecError, match=r"b\.yaml:1:1: extends: cycle: a\.yaml -> b\.yaml -> a\.yaml"):
        load_spec(tmp_path / "a.yaml")


def test_unknown_bases_list_the_presets(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", "name: x\nextends: resnet5\n")
    with pytest.raises(SpecError, match=r"x\.yaml:2:1: extends: unknown base 'resnet5'; choose from .*resnet50"):
        load_spec(path)
    write(tmp_path, "y.yaml", "extends: missing.yaml\n")
    with pytest.raises(SpecError, match=r"y\.yaml:1:1: extends: unknown base 'missing.yaml': no file"):
        load_spec(tmp_path / "y.yaml")


def test_errors_point_into_the_file_the_bad_value_came_from(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "extends: cifar-resnet20\nname: base\nhead: {num_classes: 0}\n")
    write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\n")
    with pytest.raises(SpecError, match=r"base\.yaml:3:8: head\.num_classes: must be greater than 0"):
        load_spec(tmp_path / "child.yaml")
    write(tmp_path, "fixed.yaml", "extends: base.yaml\nhead: {num_classes: 5}\nstem: {channels: -1}\n")
    with pytest.raises(SpecError, match=r"fixed\.yaml:3:8: stem\.channels"):
        load_spec(tmp_path / "fixed.yaml")


def test_set_overrides_a_dotted_path() -> None:
    spec = load_spec("resnet50", ["stages[2].blocks=8", "head.num_classes=10", "stages[3].block.zero_init=true"])
    assert (spec.stages[2].blocks, spec.head.num_classes) == (8, 10)
    assert spec.stages[3].block.zero_init and not spec.stages[2].block.zero_init


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("stages[2].blocks=0", "--set stages[2].blocks=0: stages[2].blocks: must be greater than 0"),
        ("stages[9].blocks=1", "--set stages[9].blocks=1: stages has 4 items (indices 0-3); no [9]"),
        ("stages[2]blocks=1", "--set stages[2]blocks=1: expected PATH=VALUE"),
        ("stages.blocks=1", "--set stages.blocks=1: stages is not a mapping"),
        ("extends=resnet18", "cannot be changed by --set"),
        ("width=zero", "--set width=zero: width: must be a positive number"),
    ],
)
def test_set_errors_are_one_line_naming_the_set(override: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec("resnet50", [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_every_spec_command_takes_set(capsys: pytest.CaptureFixture[str]) -> None:
    parser = make_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    takes_spec = [name for name, sub in commands.items() if any(a.dest == "spec" for a in sub._actions)]
    assert {"show", "summary", "trace"} <= set(takes_spec)
    for name in takes_spec:
        required = ["--format", "onnx"] if name == "export" else []
        args = parser.parse_args([name, "cifar-resnet20", *required, "--set", "stages[2].blocks=1",
                                  "--set", "head.num_classes=3"])  # fmt: skip
        spec = spec_from_args(args)
        assert (spec.stages[2].blocks, spec.head.num_classes) == (1, 3), name
    assert main(["show", "cifar-resnet20", "--set", "head.num_classes=3"]) == 0
    assert "num_classes: 3" in capsys.readouterr().out


def test_show_prints_the_resolved_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "cifar-resnet56"]) == 0
    out = capsys.readouterr().out
    assert "extends" not in out and "depth" not in out
    assert out.count("blocks: 9") == 3


def test_bad_set_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "resnet18", "--set", "stages[1].block.kind=botleneck"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unknown block kind 'botleneck'; choose from basic, bottleneck, preact" in err


def test_width_and_depth_multipliers(tmp_path: Path) -> None:
    path = write(tmp_path, "half.yaml", "extends: resnet50\nname: half\nwidth: 0.5\ndepth: 2\n")
    spec = load_spec(path)
    assert spec.stem.channels == 32
    assert [s.channels for s in spec.stages] == [128, 256, 512, 1024]
    assert [s.blocks for s in spec.stages] == [6, 8, 12, 6]
    narrow = load_spec("resnext50_32x4d", ["width=0.3"])  # stage widths stay multiples of 64 for 32x4d
    assert [s.channels for s in narrow.stages] == [128, 192, 320, 640]
    path = write(tmp_path, "bad.yaml", "extends: resnet50\nwidth: -1\n")
    with pytest.raises(SpecError, match=r"bad\.yaml:2:1: width: must be a positive number"):
        load_spec(path)


def test_rounding_rules() -> None:
    assert [scaled_width(c, 0.5) for c in (64, 36, 4, 100)] == [32, 24, 8, 48]
    assert scaled_width(100, 0.3) == 32  # 30 rounds to 32; 24 would drop below 90%
    assert [scaled_depth(b, 0.5) for b in (1, 2, 3, 23)] == [1, 1, 2, 12]
    assert stage_divisor({"kind": "bottleneck", "expansion": 4, "width_per_group": 4}) == 64
    assert stage_divisor({"kind": "basic"}) == 8


def test_set_to_another_kind_starts_from_that_kinds_defaults() -> None:
    spec = load_spec("resnet50", ["block.kind=basic"])
    assert spec.block.kind == "basic" and spec.stages[0].block.kind == "basic"
    with pytest.raises(SpecError, match=r"^--set stem.kind=deep: stem.channels: required field is missing"):
        load_spec("resnet18", ["stem.kind=deep"])
    assert load_spec("resnet18", ["stem={kind: deep, channels: 64}"]).stem.kind == "deep"


@pytest.mark.parametrize(
    ("base", "held"),
    [("- 1\n- 2\n", "holds a list [1, 2]"), ("just text\n", "holds a string 'just text'"),
     ("", "holds nothing"), ("epochs: 2\noptimizer: {kind: sgd, lr: 0.1}\n", "none of its keys (epochs, optimizer)")],
)  # fmt: skip
def test_a_base_that_is_not_a_spec_mapping_is_an_error_naming_it(tmp_path: Path, base: str, held: str) -> None:
    # Issue 22: a list or a string was ignored (the file validated as if `extends` were not there), and a base
    # that is no spec at all ended in a misleading error about a field missing from the user's own file.
    write(tmp_path, "base.yaml", base)
    path = write(tmp_path, "child.yaml", "name: child\nextends: base.yaml\n")
    done = cli("validate", path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"child.yaml:2:1: extends: base 'base.yaml' ({tmp_path / 'base.yaml'}) is not a spec" in done.stderr
    assert held in done.stderr and "missing" not in done.stderr


def test_a_base_that_is_a_checkpoint_or_an_export_is_named_as_such(tmp_path: Path) -> None:
    for name, kind in (("run.pt", "a checkpoint"), ("model.onnx", "an export")):
        write(tmp_path, name, "")
        path = write(tmp_path, "child.yaml", f"extends: {name}\n")
        with pytest.raises(SpecError, match=rf"child\.yaml:1:1: extends: base '{name}' is {kind} file, not a spec"):
            load_spec(path)


def test_an_unknown_top_level_key_names_the_directives_among_the_allowed(tmp_path: Path) -> None:
    """A newcomer read 'allowed: name, ... head' and thought width was not allowed: the directives are listed,
    and a misspelt one is suggested."""
    path = tmp_path / "typo.yaml"
    path.write_text("extends: resnet18\nwidht: 0.5\n")
    with pytest.raises(SpecError, match=r"widht: unknown field 'widht'; did you mean 'width'\? \(allowed: .*head, "
                       r"extends, width, depth\)"):  # fmt: skip
        load_spec(path)
