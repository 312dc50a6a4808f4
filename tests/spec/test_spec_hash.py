"""spec_hash across versions: every preset keeps its recorded hash, and a field added later (`since`) changes
the hash only of specs that use it (spec/io.py's rule)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import Field

from archspec import load_spec, preset_names, spec_hash
from archspec.spec.schema import HeadSpec, ResNetSpec, StageSpec

HASHES_FILE = Path(__file__).with_name("preset_hashes.json")
HASHES: dict[str, str] = json.loads(HASHES_FILE.read_text())


def test_every_preset_has_a_recorded_hash() -> None:
    assert sorted(HASHES) == preset_names()


@pytest.mark.parametrize("name", sorted(HASHES))
def test_preset_hash_is_the_recorded_one(name: str) -> None:
    got = spec_hash(load_spec(name))
    assert got == HASHES[name], (
        f"{name}: spec_hash {got}, recorded {HASHES[name]}. Runs, checkpoints, exports and sweeps store this hash, "
        "so it changes only if the preset itself was deliberately changed to another architecture: then run "
        "`python tests/spec/preset_hashes.py` and say why in the commit. A new schema field must not change it: "
        'mark the field json_schema_extra={"since": N} (spec/io.py), and it is hashed only when not at its default.'
    )


class LaterHead(HeadSpec):
    temperature: float = Field(1.0, json_schema_extra={"since": 2}, description="A field added in version 2.")


class LaterStage(StageSpec):
    dilation: int = Field(1, json_schema_extra={"since": 2}, description="A field added in version 2.")


class LaterSpec(ResNetSpec):
    head: LaterHead = Field(description="The head, with a later field.")
    stages: list[LaterStage] = Field(min_length=1, description="The stages, with a later field.")
    tag: str | None = Field(None, json_schema_extra={"since": 2}, description="A top-level later field.")


def test_a_later_field_at_its_default_leaves_the_hash_alone() -> None:
    spec = load_spec("resnet18")
    later = LaterSpec.model_validate(spec.model_dump())
    assert spec_hash(later) == spec_hash(spec) == HASHES["resnet18"]
    data = later.model_dump()
    for changed in ({**data, "tag": "x"}, {**data, "head": {**data["head"], "temperature": 2.0}},
                    {**data, "stages": [{**data["stages"][0], "dilation": 2}, *data["stages"][1:]]}):  # fmt: skip
        assert spec_hash(LaterSpec.model_validate(changed)) != spec_hash(spec)
