"""Lowering specs into plans: shapes and structure, without torch."""

from __future__ import annotations

import math
import subprocess
import sys

from hypothesis import given, settings

from archspec import ResNetSpec, load_spec, lower
from archspec.arch.plan import Conv, Pool, Shape
from archspec.testing import specs


def test_seed_projects_at_stage_starts_except_the_first() -> None:
    plan = lower(load_spec("d2l-resnet18"))
    projected = [[bool(block.shortcut) for block in stage.blocks] for stage in plan.stages]
    assert projected == [[False, False], [True, False], [True, False], [True, False]]
    conv = plan.stages[1].blocks[0].shortcut[0].op
    assert conv == Conv(64, 128, 1, stride=2, padding=0, bias=True)


def test_torchvision_projects_only_where_the_shape_changes() -> None:
    plan = lower(load_spec("resnet50"))
    projected = [bool(stage.blocks[0].shortcut) for stage in plan.stages]
    assert projected == [True, True, True, True]  # 64 -> 256 channels in stage 1 too
    assert [name for name, _ in plan.stages[0].blocks[0].layers][-3:] == ["shortcut.conv", "shortcut.norm", "post.act"]
    assert not any(block.shortcut for stage in plan.stages for block in stage.blocks[1:])


@settings(max_examples=50, deadline=None)
@given(specs())
def test_stage_shapes_follow_the_strides(spec: ResNetSpec) -> None:
    plan = lower(spec)
    height, width = plan.stem[-1].out_shape.height, plan.stem[-1].out_shape.width
    reduction = math.prod(layer.op.stride for layer in plan.stem if isinstance(layer.op, Conv | Pool))
    for stage_spec, stage in zip(spec.stages, plan.stages, strict=True):
        stride = stage_spec.stride
        if spec.output_stride is not None and reduction * stride > spec.output_stride:
            stride = 1  # past the output stride a stage dilates instead of striding
        reduction *= stride
        if stage_spec.downsample is not None:  # a kernel-2 stride-2 conv floors, as torchvision's ConvNeXt
            height, width = height // stride, width // stride
        else:
            height, width = (height - 1) // stride + 1, (width - 1) // stride + 1
        assert stage.out_shape == Shape(stage_spec.channels, height, width)
        assert len(stage.blocks) == stage_spec.blocks
    assert plan.output_shape == Shape(spec.head.num_classes)


def test_validation_never_imports_torch() -> None:
    code = "import archspec, sys; archspec.lower(archspec.load_spec('resnet152')); sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
