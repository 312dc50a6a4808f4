"""Any spec, however large its numbers, is refused (or accepted) at once: schema bounds, the outline, and
the guard run before anything is lowered block by block; and errors say where and what in the user's terms."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from helpers import cli

from archspec import ResourceError, SpecError, load_spec
from archspec.arch.guard import check_spec
from archspec.spec.compose import MAX_EXTENDS

HUGE_SETS = [
    "stages[0].blocks=3000000",
    "stages[0].channels=1000000000",
    "input.height=10000000",
    "input.channels=1000000",
    "stem.kernel_size=4001",
    "block.groups=100000",
    "head.num_classes=14000000",
    "stages[0].blocks=9223372036854775808",
    "width=1e300",
    "depth=1e300",
    "width=.nan",
    "depth=.inf",
    "head.dropout=.nan",
    "block.drop_path=.inf",
    "output_stride=4611686018427387904",
    "stages=[" + ", ".join(["{channels: 64, blocks: 2000}"] * 64) + "]",
]


@pytest.mark.parametrize("override", HUGE_SETS)
def test_huge_or_non_finite_numbers_are_refused_by_the_schema_in_bounded_memory(override: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as info:
            load_spec("resnet50", [override])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(info.value) and len(str(info.value)) < 600
    assert peak < 50 << 20, f"{peak:,} bytes to refuse {override}"


def test_the_deepest_valid_spec_validates_and_is_guarded_without_lowering_every_block() -> None:
    tracemalloc.start()
    try:
        spec = load_spec("resnet50", ["stages[2].blocks=990", "stages[2].channels=65536"])
        with pytest.raises(ResourceError, match="parameters exceeds the limit"):
            check_spec(spec)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20  # the outline lowers two blocks per stage, not 990


def test_every_command_refuses_huge_specs_in_one_line() -> None:
    for command in (["validate"], ["show"], ["complexity"], ["summary"], ["trace"], ["check"],
                    ["export", "--format", "onnx"], ["bench"], ["train"]):  # fmt: skip
        done = cli(*command[:1], "resnet50", *command[1:], "--set", "stages[0].blocks=3000000")
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, (command, done.stderr)
        assert "stages[0].blocks: must be less than or equal to 1000" in done.stderr, command


def test_a_long_extends_chain_is_refused_at_its_extends_line(tmp_path: Path) -> None:
    (tmp_path / "s0.yaml").write_text("extends: resnet18\nname: s0\n")
    for i in range(1, 40):
        (tmp_path / f"s{i}.yaml").write_text(f"extends: s{i - 1}.yaml\nname: s{i}\n")
    with pytest.raises(SpecError, match=f"extends: a chain of over {MAX_EXTENDS} files"):
        load_spec(tmp_path / "s39.yaml")
    assert load_spec(tmp_path / "s5.yaml").name == "s5"


def test_extending_a_preset_and_breaking_it_names_the_users_file_first(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"  # a 7x7 stem conv without padding: fine at 32x32, not at 5x5
    base.write_text(
        "extends: cifar-resnet20\nname: base\nstem: {kind: conv, channels: 16, kernel_size: 7, stride: 1, padding: 0}\n"
    )
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: base.yaml\nname: mine\ninput: {channels: 3, height: 5, width: 5}\n")
    with pytest.raises(SpecError) as info:
        load_spec(mine)
    message = str(info.value)
    assert message.startswith(f"{mine}:3:1: input: "), message
    assert f"{base}:3:" in message and "feature map shrinks below 1x1" in message
    broken = tmp_path / "base.yaml"
    broken.write_text("extends: cifar-resnet20\nname: base\nhead: {num_classes: 0}\n")
    (tmp_path / "child.yaml").write_text("name: child\nextends: base.yaml\n")
    with pytest.raises(SpecError, match=r"child\.yaml:2:1: extends: .*base\.yaml:3:8: head\.num_classes"):
        load_spec(tmp_path / "child.yaml")


def test_spec_errors_carry_every_problem_structured(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("extends: resnet18\nname: two\nhead: {num_classes: 0}\nstem: {channels: -1}\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    problems = sorted((p.field, p.line, p.column) for p in info.value.errors)
    assert problems == [("head.num_classes", 3, 8), ("stem.channels", 4, 8)]
    assert all(p.file == str(path) and p.message.startswith(f"{path}:") for p in info.value.errors)
    assert "(and 1 more; --all-errors lists them)" in str(info.value)
    done = cli("validate", path, "--all-errors")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 2


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("extends: resnet-50\n", "unknown base 'resnet-50'; choose from"),
        ("extends: resnet18\nhead:\n", "head: must be a mapping of fields (pool, norm, dropout, num_classes), got "
         "nothing"),
        ("extends: resnet18\nstem:\n  channels: 32\nkernel_size: 5\n", "unknown field 'kernel_size'; it is a field "
         "of 'stem': indent it under stem"),
        ("name: x\ninput: {channels: 1, height: 28, width: 28}\nstem: {channels: 8}\nblock: {zero_init: true}\n"
         "stages: [{channels: 8, blocks: 1}]\nhead: {num_classes: 10}\n",
         "block: needs a 'kind' field: one of basic, bottleneck, preact, bottleneck_v1"),
        ("extends: resnet18\nstem: {channels: \"64\"}\n",
         "got '64' (quotes make it a string: write 64 without quotes)"),
    ],
)  # fmt: skip
def test_errors_say_enough_to_fix_them(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert words in str(info.value) and "HeadSpec" not in str(info.value)


def test_resnet_50_suggests_resnet50(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("extends: resnet-50\n")
    with pytest.raises(SpecError, match=r"\(did you mean 'resnet50'\?\)"):
        load_spec(path)
    with pytest.raises(SpecError, match=r"\(did you mean 'resnet50'\?\)"):
        load_spec("resnet-50")


def test_an_extending_spec_does_not_inherit_the_description(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("extends: resnet50\nname: mine\n")
    assert load_spec(path).description == ""
    path.write_text("extends: resnet50\nname: mine\ndescription: my own\n")
    assert load_spec(path).description == "my own"
