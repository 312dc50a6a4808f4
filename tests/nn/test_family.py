"""The ResNet family: every block/shortcut/stem option, and properties of random specs over the whole schema
(build, shapes, parameters, zero-init). Preset counts: tests/arch/test_golden.py; round trips: tests/spec/test_io.py."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from torch import nn

from archspec import SpecError, build, load_spec, lower
from archspec.arch.plan import DropPath, SqueezeExcite, ZeroPad
from archspec.arch.validate import spec_from_text
from archspec.testing import specs

PROPERTY = settings(max_examples=30, deadline=None)


def test_cifar_resnet_has_parameter_free_shortcuts() -> None:
    plan = lower(load_spec("cifar-resnet20"))
    shortcuts = [layer.op for stage in plan.stages for block in stage.blocks for layer in block.shortcut]
    assert [type(op) for op in shortcuts] == [ZeroPad, ZeroPad]
    out = build(load_spec("cifar-resnet20"))(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


# --- properties over random specs -------------------------------------------------------------------


def _stage_outputs(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    outs = []
    for name, part in model.named_children():
        x = part(x)
        if name.startswith("stage"):
            outs.append(x)
    outs.append(x)
    return outs


@PROPERTY
@given(specs(max_size=24))
def test_random_specs_build_run_and_match_the_plan(spec) -> None:  # type: ignore[no-untyped-def]
    plan = lower(spec)
    model = build(spec)
    assert sum(p.numel() for p in model.parameters()) == plan.params
    x = torch.randn(2, spec.input.channels, spec.input.height, spec.input.width, requires_grad=True)
    *stages, logits = _stage_outputs(model, x)
    for stage, out in zip(plan.stages, stages, strict=True):
        shape = stage.out_shape
        assert tuple(out.shape) == (2, shape.channels, shape.height, shape.width), stage.name
    assert tuple(logits.shape) == (2, plan.output_shape.channels)
    logits.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@PROPERTY
@given(specs(max_size=24))
def test_zero_init_blocks_with_identity_shortcut_start_as_identity(spec) -> None:  # type: ignore[no-untyped-def]
    stages = [s.model_copy(update={"block": s.block.model_copy(update={"zero_init": True})}) for s in spec.stages]
    spec = spec.model_copy(update={"stages": stages})
    model = build(spec).eval()
    plan = lower(spec)
    x = torch.randn(2, spec.input.channels, spec.input.height, spec.input.width)
    with torch.no_grad():
        x = model.stem(x)
        for stage in plan.stages:
            module = getattr(model, stage.name)
            if stage.downsample:  # a separate downsampling layer before the blocks
                x = module.downsample(x)
            for index in range(len(stage.blocks)):
                block = module[index + bool(stage.downsample)]
                y = block(x)
                if not stage.blocks[index].shortcut:
                    # post is the block's activation (none in preact blocks): for ReLU blocks, whose input
                    # is a ReLU's output, post(x) is x itself
                    torch.testing.assert_close(y, block.post(x.clone()))
                x = y


# --- options, one by one -----------------------------------------------------------------------------

BASE = """
name: t
input: {channels: 3, height: 32, width: 32}
stem: {kind: cifar, channels: 16}
block: {kind: basic}
stages:
  - {channels: 16, blocks: 2}
  - {channels: 32, blocks: 2, stride: 2}
  - {channels: 64, blocks: 2, stride: 2}
head: {num_classes: 10}
"""


def spec_with(extra: str) -> str:
    return BASE + extra


def test_stage_overrides_put_squeeze_excite_in_the_last_two_stages_only() -> None:
    text = BASE.replace(
        "  - {channels: 32, blocks: 2, stride: 2}\n  - {channels: 64, blocks: 2, stride: 2}",
        "  - {channels: 32, blocks: 2, stride: 2, block: {squeeze_excite: {ratio: 0.25}}}\n"
        "  - {channels: 64, blocks: 2, stride: 2, block: {squeeze_excite: {ratio: 0.25}}}",
    )
    plan = lower(spec_from_text(text))
    gates = [[type(layer.op) is SqueezeExcite for b in s.blocks for layer in b.main] for s in plan.stages]
    assert [sum(g) for g in gates] == [0, 2, 2]
    op = plan.stages[2].blocks[0].main[-1].op
    assert isinstance(op, SqueezeExcite) and op.hidden == 16 and op.params == 2 * 64 * 16 + 16 + 64


def test_drop_path_rises_linearly_over_all_blocks() -> None:
    plan = lower(spec_from_text(BASE.replace("block: {kind: basic}", "block: {kind: basic, drop_path: 0.5}")))
    rates = [
        next((layer.op.p for layer in block.main if isinstance(layer.op, DropPath)), 0.0)
        for stage in plan.stages
        for block in stage.blocks
    ]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])


def test_output_stride_dilates_instead_of_striding() -> None:
    plan = lower(spec_from_text(BASE + "output_stride: 2\n"))
    assert [s.out_shape.height for s in plan.stages] == [32, 16, 16]
    assert [s.reduction for s in plan.stages] == [1, 2, 2]
    convs = [layer.op for layer in plan.stages[2].blocks[1].main if layer.name.startswith("conv")]
    assert [(c.dilation, c.padding) for c in convs] == [(2, 2), (2, 2)]  # type: ignore[union-attr]


def test_resnext_width_per_group_sets_the_grouped_conv() -> None:
    block = lower(load_spec("resnext50_32x4d")).stages[0].blocks[0]
    conv2 = next(layer.op for layer in block.main if layer.name == "conv2")
    assert (conv2.in_channels, conv2.groups) == (128, 32)  # type: ignore[union-attr]


def test_group_norm_builds_group_norm_modules() -> None:
    spec = spec_from_text(BASE.replace("block: {kind: basic}", "block: {kind: basic, norm: group, norm_groups: 8}"))
    model = build(spec)
    assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 8 for m in model.modules())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("kind: basic}", "kind: botleneck}"),
            "block.kind: unknown block kind 'botleneck'; choose from basic, bottleneck, preact",
        ),
        (
            ("kind: basic}", "kind: bottleneck, groups: 32, width_per_group: 3}"),
            "stages[0].channels: bottleneck width per group",
        ),
        (("kind: basic}", "kind: bottleneck, expansion: 3}"), "bottleneck needs channels divisible by expansion (3)"),
        (("kind: basic}", "kind: basic, norm: group, norm_groups: 5}"), "norm_groups (5)"),
        (
            (
                "{channels: 64, blocks: 2, stride: 2}",
                "{channels: 8, blocks: 2, stride: 2, block: {shortcut: {kind: zero_pad}}}",
            ),
            "zero_pad shortcut cannot reduce channels (32 -> 8)",
        ),
        (("head:", "output_stride: 12\nhead:"), "output_stride: must be a power of two"),
        (("kind: basic}", "kind: basic, squeeze_excite: {ratio: 0}}"), "squeeze_excite.ratio"),
        (("kind: cifar", "kind: deep, kernel_size: 3"), "unknown field 'kernel_size'"),
    ],
)
def test_invalid_options_name_the_field_and_the_fix(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(SpecError) as err:
        spec_from_text(BASE.replace(*edit, 1))
    assert message in str(err.value)
    assert str(err.value).startswith("<string>:")


def test_preact_network_ends_with_norm_and_activation_before_the_head() -> None:
    plan = lower(load_spec("resnetv2_50"))
    assert [layer.name for layer in plan.head[:2]] == ["norm", "act"]
    assert not plan.stem[-2:][0].name.startswith("norm")
    first = plan.stages[0].blocks[0]
    assert [layer.name for layer in first.pre] == ["norm1", "act1"]
    assert [layer.name for layer in first.shortcut] == ["conv"]  # reads the pre-activated input, no norm
