"""`archspec schema` accepts every file the loader accepts (extends files, partial blocks) and refuses what
it refuses, checked with the `jsonschema` library as an editor would use it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from helpers import cli

ROOT = Path(__file__).parents[2]
EXAMPLES = [path for path in ROOT.glob("docs/examples/*.yaml") if not path.name.startswith("sweep-")]  # sweep files
FILES = sorted([*ROOT.glob("archspec/specs/*.yaml"), *EXAMPLES])  # a sweep file is no spec: tests/train/test_sweep_*


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    done = cli("schema")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def problems(validator: jsonschema.Draft202012Validator, data: Any) -> list[str]:
    return [error.message for error in validator.iter_errors(data)]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_bundled_and_example_spec_validates(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    assert problems(validator, yaml.safe_load(path.read_text())) == []


def test_an_extends_file_may_be_partial_but_a_plain_file_may_not(validator: jsonschema.Draft202012Validator) -> None:
    assert problems(validator, {"extends": "resnet18", "input": {"channels": 3}, "stem": {"channels": 32}}) == []
    assert any("'input' is a required property" in p for p in problems(validator, {"name": "x"}))


def test_stage_blocks_are_partial_maps_of_the_block_kinds(validator: jsonschema.Draft202012Validator) -> None:
    spec = yaml.safe_load((ROOT / "archspec/specs/resnet50.yaml").read_text())
    spec["stages"][2]["block"] = {"squeeze_excite": {"ratio": 0.25}}  # merged over the spec's block
    assert problems(validator, spec) == []
    spec["stages"][2]["block"] = {"kind": "basic", "expansion": 4}  # a basic block has no expansion
    assert problems(validator, spec)
    spec["stages"][2]["block"] = {"zero_inti": True}
    assert problems(validator, spec)
    stage_block = validator.schema["$defs"]["StageSpec"]["properties"]["block"]
    assert len(stage_block["anyOf"]) == 5  # one per block kind: editors complete each kind's fields


def test_a_stage_in_an_extends_file_is_still_whole(validator: jsonschema.Draft202012Validator) -> None:
    # lists are replaced, not merged: a stage must say its channels and blocks even in an extends file
    assert problems(validator, {"extends": "resnet18", "stages": [{"block": {"zero_init": True}}]})


def test_bounds_and_directives_are_in_the_schema(validator: jsonschema.Draft202012Validator) -> None:
    assert problems(validator, {"extends": "resnet18", "width": 0.5, "depth": 2}) == []
    assert problems(validator, {"extends": "resnet18", "width": 0})
    assert problems(validator, {"extends": "resnet18", "stages": [{"channels": 64, "blocks": 3_000_000}]})
