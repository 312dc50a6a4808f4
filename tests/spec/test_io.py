"""Loading, dumping and hashing specs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings

from archspec import SpecError, dump_spec, load_spec, preset_names, spec_hash
from archspec.arch.validate import spec_from_text, with_input
from archspec.config.document import MAX_BYTES
from archspec.testing import specs

SEED_YAML = """\
name: d2l-resnet18
input: {channels: 1, height: 96, width: 96}
stem: {channels: 64, kernel_size: 7, stride: 2, conv_bias: true, pool: {kind: max, kernel_size: 3, stride: 2}}
block: {kind: basic, conv_bias: true, shortcut: {kind: conv, when: stage_start}}
stages:
  - {channels: 64, blocks: 2, stride: 1}
  - {channels: 128, blocks: 2, stride: 2}
  - {channels: 256, blocks: 2, stride: 2}
  - {channels: 512, blocks: 2, stride: 2}
head: {pool: avg, num_classes: 10}
"""


def test_preset_by_name_path_and_text_agree(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED_YAML)
    by_name, by_path, by_text = load_spec("d2l-resnet18"), load_spec(path), load_spec(SEED_YAML)
    assert spec_hash(by_name) == spec_hash(by_path) == spec_hash(by_text)


def test_unknown_preset_lists_the_bundled_ones() -> None:
    with pytest.raises(SpecError, match="resnet50"):
        load_spec("resnet5O")


@pytest.mark.parametrize("name", preset_names())
def test_presets_round_trip_through_canonical_yaml(name: str) -> None:
    spec = load_spec(name)
    assert load_spec(dump_spec(spec)) == spec


@settings(max_examples=50, deadline=None)
@given(specs())
def test_random_specs_round_trip(spec: object) -> None:
    assert load_spec(dump_spec(spec)) == spec  # type: ignore[arg-type]


def test_hash_ignores_name_and_formatting_but_not_architecture() -> None:
    spec = load_spec("d2l-resnet18")
    renamed = spec_from_text(SEED_YAML.replace("name: d2l-resnet18", "name: mine"))
    assert spec_hash(renamed) == spec_hash(spec)
    wider = spec_from_text(SEED_YAML.replace("{channels: 512, blocks: 2", "{channels: 640, blocks: 2"))
    assert spec_hash(wider) != spec_hash(spec)
    assert spec_hash(spec) == "sha256:6b8943126bd4cf83"  # stable across runs and machines


def test_stage_block_override_merges_onto_the_spec_block() -> None:
    text = SEED_YAML.replace("{channels: 256, blocks: 2, stride: 2}",
                             "{channels: 256, blocks: 2, stride: 2, block: {activation: silu}}")  # fmt: skip
    spec = spec_from_text(text)
    assert spec.stages[2].block.activation == "silu"
    assert spec.stages[2].block.conv_bias is True  # inherited
    assert spec.stages[1].block.activation == "relu"
    assert "activation: silu" in dump_spec(spec)


def test_stage_may_switch_block_kind() -> None:
    override = "{channels: 512, blocks: 2, stride: 2, block: {kind: bottleneck, expansion: 2}}"
    text = SEED_YAML.replace("{channels: 512, blocks: 2, stride: 2}", override)
    spec = spec_from_text(text)
    assert spec.stages[3].block.kind == "bottleneck"
    assert spec.stages[3].block.conv_bias is False  # another kind starts from its own defaults


def test_merge_keys_and_anchors_are_plain_yaml() -> None:
    text = SEED_YAML.replace("stages:\n", "defaults: &wide {blocks: 2, stride: 2}\nstages:\n")
    with pytest.raises(SpecError, match="unknown field 'defaults'"):
        spec_from_text(text)
    last = "  - {channels: 512, blocks: 2, stride: 2}"
    merged = SEED_YAML.replace(last, "  - {<<: {blocks: 2, stride: 2}, channels: 512}")
    assert spec_hash(spec_from_text(merged)) == spec_hash(load_spec("d2l-resnet18"))


def test_canonical_yaml_is_plain_yaml() -> None:
    data = yaml.safe_load(dump_spec(load_spec("resnet50")))
    assert data["stem"]["padding"] == 3  # defaults are resolved, not left as null
    assert next(iter(data["block"])) == "kind"


def test_oversized_file_is_refused_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * MAX_BYTES + "\n")
    with pytest.raises(SpecError, match="is over 1,048,576 bytes, the limit for specs and recipes"):
        load_spec(path)


def test_alias_bomb_is_refused_quickly() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
    )
    start = time.perf_counter()
    with pytest.raises(SpecError, match="alias bomb"):
        spec_from_text(bomb)
    assert time.perf_counter() - start < 5  # generous: the point is "not exponential"


def test_input_size_override_revalidates() -> None:
    spec = with_input(load_spec("d2l-resnet18"), 1, 224, 224)
    assert (spec.input.height, spec.input.width) == (224, 224)
    unpadded = spec_from_text(SEED_YAML.replace("kernel_size: 7,", "kernel_size: 7, padding: 0,"))
    with pytest.raises(SpecError, match=r"^--input-size 1 5 5: stem.kernel_size: feature map shrinks below 1x1"):
        with_input(unpadded, 1, 5, 5)
