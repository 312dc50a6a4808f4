"""The generic config layer: one override grammar and one kind-switch rule for specs and recipes alike,
and sources that may be a path, a bundled name or inline YAML."""

from __future__ import annotations

import re

import pytest

from archspec import SpecError, load_spec
from archspec.arch.validate import resolve_spec
from archspec.config.document import parse
from archspec.config.merge import overlay
from archspec.config.overrides import apply_overrides, parse_override
from archspec.recipe.schema import load_recipe, resolve_recipe, route
from archspec.spec.presets import preset_dir


def test_one_grammar_parses_paths_and_yaml_values() -> None:
    item = parse_override("stages[2].block.squeeze_excite={ratio: 0.25}")
    assert item.path == ("stages", 2, "block", "squeeze_excite")
    assert item.value == {"ratio": 0.25}
    assert parse_override("optimizer.lr=").value is None


@pytest.mark.parametrize("text", ["stages[2]blocks=8", "[0].x=1", "a..b=1", "novalue"])
def test_malformed_paths_are_refused_the_same_way_for_specs_and_recipes(text: str) -> None:
    for load in (lambda: load_spec("resnet18", [text]), lambda: load_recipe("d2l", [text])):
        with pytest.raises(SpecError, match="^" + re.escape(f"--set {text}: ")):
            load()


def test_a_new_kind_starts_afresh_and_the_same_kind_merges() -> None:
    base = {"kind": "sgd", "lr": 0.1, "momentum": 0.9}
    assert overlay(base, {"kind": "adamw"}) == {"kind": "adamw"}
    assert overlay(base, {"kind": "sgd", "lr": 0.2}) == {"kind": "sgd", "lr": 0.2, "momentum": 0.9}
    assert overlay(base, {"lr": 0.2}) == {"kind": "sgd", "lr": 0.2, "momentum": 0.9}
    doc = apply_overrides(parse("optimizer: {kind: sgd, lr: 0.1, momentum: 0.9}", "r.yaml"), ["optimizer.kind=adamw"])
    assert doc.data == {"optimizer": {"kind": "adamw"}}
    assert doc.where(("optimizer", "kind")) == "--set optimizer.kind=adamw"


def test_values_remember_the_override_that_gave_them() -> None:
    with pytest.raises(SpecError, match=r"^--set stages\[1\]\.stride=3: stages\[1\]\.stride: must be 1 or 2"):
        load_spec("resnet18", ["stages[1].stride=3"])


def test_inline_yaml_is_a_source() -> None:
    spec = load_spec("{extends: resnet18, name: inline, head: {num_classes: 7}}")
    assert (spec.name, spec.head.num_classes) == ("inline", 7)
    assert load_recipe("{name: r, epochs: 1, batch_size: 8, optimizer: {kind: sgd, lr: 0.1}}").epochs == 1


def test_an_index_into_a_field_the_document_lacks_names_that_field() -> None:
    doc = parse("stages: [{blocks: 1}]\nhead: {num_classes: 10}\n", "spec.yaml")
    with pytest.raises(SpecError, match=r"no list 'stagez' to index with \[0\]; check the field name"):
        apply_overrides(doc, ["stagez[0].blocks=2"])
    with pytest.raises(SpecError, match=r"head is not a list, so \[0\] does not apply"):
        apply_overrides(doc, ["head[0]=1"])
    assert apply_overrides(doc, ["stages[0].blocks=2"]).data["stages"] == [{"blocks": 2}]


def test_resolve_spec_and_recipe_give_the_model_and_its_located_document() -> None:
    spec = resolve_spec("resnet18", ["stages[1].blocks=3"])
    assert spec.model.stages[1].blocks == 3
    assert spec.document.where(("stages", 1, "blocks")) == "--set stages[1].blocks=3"
    assert spec.document.where(("head", "num_classes")).startswith(f"{preset_dir() / 'resnet18.yaml'}:")
    recipe = resolve_recipe("d2l", ["epochs=3"])
    assert recipe.model.epochs == 3 and recipe.document.where(("epochs",)) == "--set epochs=3"
    with pytest.raises(SpecError, match=r"^--set name=x: both the spec and the recipe have 'name'; write spec\."):
        route("name=x")
    assert route("recipe.name=x") == ("recipe", "name=x") and route("width=2") == ("spec", "width=2")
