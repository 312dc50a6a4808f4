"""The kinds registry (archspec/spec/kinds.py): archspec's own kinds are in it, and a plugin that fails (an
entry point that does not import, a name registered twice, a schema that does not forbid unknown keys or is
not frozen, a lowering that raises) is left out whole with a one-line reason naming it; the rest keep working."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Literal

import pytest
from plugins import write_bad_plugin
from pydantic import ConfigDict, Field

from archspec.arch.plan import PlanError, lower
from archspec.arch.validate import spec_from_text
from archspec.spec import kinds
from archspec.spec.blocks import BLOCK_KINDS
from archspec.spec.blocks.base import BlockBase
from archspec.spec.lowering import Layers, Position
from archspec.spec.schema import json_schema

TINY = "name: t\ninput: {channels: 1, height: 16, width: 16}\nstem: {channels: 8, kernel_size: 3, stride: 1}\n" \
       "block: {kind: basic}\nstages:\n  - {channels: 8, blocks: 1}\nhead: {num_classes: 3}\n"  # fmt: skip


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> kinds.Registry:
    """A registry holding archspec's own kinds and nothing else, in place of the real one."""
    fresh = kinds.Registry(kinds=copy.deepcopy(kinds.REGISTRY.kinds))
    fresh._by_target = dict(kinds.REGISTRY._by_target)
    monkeypatch.setattr(kinds, "REGISTRY", fresh)
    return fresh


def test_archspecs_own_kinds_are_registered_as_archspecs() -> None:
    assert kinds.names("block")[:4] == BLOCK_KINDS[:4] == ("basic", "bottleneck", "preact", "bottleneck_v1")
    assert kinds.names("stem")[:3] == ("conv", "deep", "cifar")
    assert kinds.names("shortcut")[:4] == ("conv_norm", "conv", "avg_conv_norm", "zero_pad")
    assert {"conv", "norm", "squeezeexcite", "linear"} <= set(kinds.names("primitive"))
    assert {kind.package for category in kinds.CATEGORIES for kind in kinds.kinds(category).values()} == {"archspec"}
    schema = json_schema()["$defs"]
    assert schema["ShortcutSpec"]["properties"]["kind"]["enum"] == list(kinds.names("shortcut"))


def test_a_broken_entry_point_a_duplicate_and_a_loose_schema_leave_their_plugin_out(
    registry: kinds.Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(write_bad_plugin(tmp_path)))
    registry.load_plugins()
    problems = {problem.entry_point: str(problem) for problem in registry.problems}
    assert set(problems) == {"broken", "dup", "loose"}, problems
    assert problems["broken"].startswith("plugin badplug (entry point broken): ModuleNotFoundError: No module named")
    assert problems["dup"] == "plugin badplug (entry point dup): block kind 'basic' is already registered by archspec"
    assert "block kind 'loose_basic': its schema model Loose must forbid unknown keys" in problems["loose"]
    assert registry.package_of("block", "raising_basic") == "badplug"  # the good one keeps working
    assert registry.package_of("block", "basic") == "archspec" and "loose_basic" not in kinds.names("block")
    hint = kinds.unknown_hint("block", "loose_basic")  # what an error for a spec naming it adds
    assert "plugin badplug (entry point loose)" in hint and "must forbid unknown keys" in hint


def test_a_raising_lowering_is_a_located_error_naming_the_plugin(
    registry: kinds.Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(write_bad_plugin(tmp_path)))
    registry.load_plugins()
    raising = registry.kinds["block"]["raising_basic"].target(kind="raising_basic")
    spec = spec_from_text(TINY)
    spec = spec.model_copy(update={"stages": [stage.model_copy(update={"block": raising}) for stage in spec.stages]})
    with pytest.raises(PlanError) as caught:
        lower(spec)
    assert str(caught.value) == ("stages[0].block.kind: block kind 'raising_basic' of plugin badplug failed: "
                                 "ZeroDivisionError: a bug in the plugin")  # fmt: skip


class _Thawed(BlockBase):
    model_config = ConfigDict(extra="forbid", frozen=False)
    kind: Literal["thawed"] = Field(description="A block whose settings could change after validation.")

    def branch(self, layers: Layers, channels: int, at: Position) -> None:
        layers.conv_norm_act("1", channels, 3, at.stride)


class _Undescribed(BlockBase):
    kind: Literal["undescribed"] = Field(description="A block with a field nobody explained.")
    taps: int = 3

    def branch(self, layers: Layers, channels: int, at: Position) -> None:
        layers.conv_norm_act("1", channels, 3, at.stride)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (_Thawed, "block kind 'thawed': its schema model _Thawed must be frozen"),
        (_Undescribed, "block kind 'undescribed': field 'taps' of _Undescribed needs a description"),
        (BlockBase, "needs a field kind: Literal['its name']"),
    ],
)
def test_a_schema_model_that_breaks_the_rules_is_refused(
    registry: kinds.Registry, model: type[BlockBase], message: str
) -> None:
    assert not registry.load_plugin("myplug", "mine", lambda: lambda: kinds.register_block(model))
    (problem,) = registry.problems
    assert problem.package == "myplug" and message in str(problem), str(problem)


def test_registering_twice_in_one_plugin_keeps_none_of_it(registry: kinds.Registry) -> None:
    def register() -> None:
        kinds.register_shortcut("twice", lambda *args: None, "A shortcut registered twice.")
        kinds.register_shortcut("twice", lambda *args: None, "A shortcut registered twice.")

    assert not registry.load_plugin("myplug", "mine", lambda: register)
    assert str(registry.problems[0]) == ("plugin myplug (entry point mine): shortcut kind 'twice' is already "
                                         "registered by myplug")  # fmt: skip
    assert "twice" not in kinds.names("shortcut")


def test_archspecs_own_names_win_whenever_they_register(monkeypatch: pytest.MonkeyPatch) -> None:
    from archspec.spec import shortcuts

    empty = kinds.Registry(_loaded=True)
    monkeypatch.setattr(kinds, "REGISTRY", empty)
    mine = (lambda *args: None, "A plugin's shortcut named as archspec's.")
    assert empty.load_plugin("early", "first", lambda: lambda: kinds.register_shortcut("conv", *mine))
    kinds.register_shortcut("conv", shortcuts._conv, "archspec's own")  # registered after the plugin's
    assert empty.kinds["shortcut"]["conv"].package == "archspec"
    assert str(empty.problems[0]) == "plugin early (entry point first): shortcut kind 'conv' is archspec's own"

    def during() -> None:  # archspec's own registers while the plugin's registration runs
        kinds.register_shortcut("zero_pad", *mine)
        kinds.register_shortcut("zero_pad", shortcuts._zero_pad, "archspec's own")

    assert not empty.load_plugin("late", "second", lambda: during)
    assert empty.kinds["shortcut"]["zero_pad"].package == "archspec"
    assert str(empty.problems[1]) == "plugin late (entry point second): shortcut kind 'zero_pad' is archspec's own"
