"""A plugin's block kind in the spec layer: the installed example plugin (archspec-eca) validates with located
errors and did-you-mean over the installed kinds, and the JSON Schema holds its fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_one_line_error
from plugins import SPEC, install_example, run_with


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_example(tmp_path_factory)


def test_validate_and_schema_know_the_plugin_kinds(site: Path, tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("extends: fashion-resnet\nname: typo\nblock: {kind: eca_basci}\n")
    even = tmp_path / "even.yaml"
    even.write_text("extends: fashion-resnet\nname: even\nblock: {kind: eca_basic, eca: {kernel_size: 4}}\n")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("extends: fashion-resnet\nname: unknown\nblock: {kind: eca_basic, eca: {gama: 3}}\n")
    ok, typo_run, even_run, unknown_run, schema = run_with(
        site, ["validate", SPEC], ["validate", typo], ["validate", even], ["validate", unknown], ["schema"]
    )
    assert ok.returncode == 0 and "eca-fashion, 308,085 parameters" in ok.stdout, ok
    assert_one_line_error(typo_run, f"{typo}:3:9: block.kind: unknown block kind 'eca_basci'", "eca_bottleneck",
                          "did you mean 'eca_basic'?")  # fmt: skip
    assert "basic, bottleneck, preact, bottleneck_v1, convnext, eca_basic" in typo_run.stderr  # the installed kinds
    assert_one_line_error(even_run, f"{even}:3:", "block.eca.kernel_size: must be odd", "got 4")
    assert_one_line_error(unknown_run, "block.eca.gama: unknown field 'gama'; did you mean 'gamma'?")
    defs = json.loads(schema.stdout)["$defs"]
    assert defs["EcaBasicBlockSpec"]["properties"]["kind"]["const"] == "eca_basic"
    assert set(defs["EcaSpec"]["properties"]) == {"gamma", "beta", "kernel_size"}
    assert "PartialEcaBasicBlockSpec" in defs  # a file that extends another may say only part of it
    assert defs["ShortcutSpec"]["properties"]["kind"]["enum"][-1] == "blur_conv_norm"


def test_without_the_plugin_its_kind_names_the_package_to_install(tmp_path: Path) -> None:
    from helpers import cli

    result = cli("validate", SPEC)
    assert_one_line_error(result, "block.kind: unknown block kind 'eca_basic'; choose from basic, bottleneck",
                          "comes from the plugin archspec-eca (docs/examples/plugin): install it")  # fmt: skip
