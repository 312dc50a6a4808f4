"""Bad plugins from the command line: with a broken distribution installed (an entry point that does not import,
a duplicate name, a loose schema, a raising lowering), `archspec kinds` names each problem in one line and
exits 2, a spec naming a left-out or failing kind is a one-line error naming the plugin, and specs of the
other kinds (the same distribution's good stem and shortcut kinds included) validate as before, and `archspec
check` names the plugin whose primitive's analytic count disagrees with its module. The subprocess is the
point: only installed entry points are loaded."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import assert_one_line_error
from plugins import run_with, write_bad_plugin


def test_a_bad_plugin_is_named_in_one_line_and_the_other_kinds_keep_working(tmp_path: Path) -> None:
    site = write_bad_plugin(tmp_path / "site")
    loose, raising = tmp_path / "loose.yaml", tmp_path / "raising.yaml"
    loose.write_text("extends: resnet18\nname: loose\nblock: {kind: loose_basic}\n")
    raising.write_text("extends: resnet18\nname: raising\nblock:\n  kind: raising_basic\n")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("extends: fashion-resnet\nname: wrong\nblock: {kind: wrong_basic}\n")
    good = tmp_path / "good.yaml"
    good.write_text("extends: fashion-resnet\nname: good\nstem: {kind: patch, channels: 16}\n"
                    "block: {shortcut: {kind: max_conv_norm}}\n")  # fmt: skip
    listed, fine, left_out, failing, checked, costs, typo = run_with(
        site, ["kinds"], ["validate", "resnet18"], ["validate", loose], ["validate", raising],
        ["check", wrong, "--examples", "2"], ["complexity", good, "--format", "json"],
        ["validate", "--set", "block.shortcut.kind=max_conv_nrm", good],
    )  # fmt: skip
    assert listed.returncode == 2 and "raising_basic  badplug" in listed.stdout, listed
    assert "stem       patch" in listed.stdout and "shortcut   max_conv_norm" in listed.stdout
    errors = listed.stderr.splitlines()
    assert len(errors) == 3 and all(line.startswith("archspec: error: plugin badplug (entry point ") for line in errors)
    assert "block kind 'basic' is already registered by archspec" in listed.stderr
    assert fine.returncode == 0 and fine.stderr == "", fine
    assert_one_line_error(left_out, f"{loose}:3:9: block.kind: unknown block kind 'loose_basic'; choose from basic",
                          "plugin badplug (entry point loose): block kind 'loose_basic': its schema model Loose "
                          "must forbid unknown keys")  # fmt: skip
    assert_one_line_error(failing, f"{raising}:4:3: block.kind: block kind 'raising_basic' of plugin "
                          "badplug failed: ZeroDivisionError: a bug in the plugin")  # fmt: skip
    assert checked.returncode == 1, checked
    assert ("plugin primitives: wrong_gate (plugin badplug) at stage1.0.main.gate" in checked.stdout
            and "analytic params" in checked.stdout and "(torchinfo)" in checked.stdout), checked.stdout  # fmt: skip
    layers = {layer["path"]: layer for layer in json.loads(costs.stdout)["layers"]}
    assert layers["stem.conv"]["output"] == [16, 14, 14] and layers["stage2.0.shortcut.pool"]["op"] == "pool"
    assert_one_line_error(typo, "block.shortcut.kind: unknown shortcut kind 'max_conv_nrm'; choose from conv_norm",
                          "zero_pad, max_conv_norm (did you mean 'max_conv_norm'?)")  # fmt: skip
