"""Block kinds as one module each: the registry, and the bottleneck_v1 kind added through it alone."""

from __future__ import annotations

import torch

from archspec import build, load_spec
from archspec.arch.complexity import complexity
from archspec.arch.plan import lower
from archspec.spec.blocks import BLOCK_KINDS, BLOCK_MODELS
from archspec.spec.schema import json_schema

V1 = "{extends: resnet50, name: resnet50-v1, block: {kind: bottleneck_v1}}"


def test_registry_is_the_vocabulary_everywhere() -> None:
    assert tuple(BLOCK_MODELS) == BLOCK_KINDS and "bottleneck_v1" in BLOCK_KINDS
    schema_kinds = {
        definition["properties"]["kind"]["const"]
        for definition in json_schema()["$defs"].values()
        if definition.get("title", "").endswith("BlockSpec")
    }
    assert schema_kinds == set(BLOCK_KINDS)


def test_bottleneck_v1_strides_its_first_1x1_conv() -> None:
    v1, v15 = lower(load_spec(V1)), lower(load_spec("resnet50"))
    first = {layer.name: layer.op for layer in v1.stages[1].blocks[0].main}
    assert (first["conv1"].stride, first["conv2"].stride) == (2, 1)  # type: ignore[union-attr]
    assert v1.params == v15.params  # the same weights, placed at another resolution
    assert [s.out_shape for s in v1.stages] == [s.out_shape for s in v15.stages]
    assert complexity(load_spec(V1)).macs < complexity(load_spec("resnet50")).macs


def test_bottleneck_v1_builds_and_runs() -> None:
    spec = load_spec(V1, ["input.height=64", "input.width=64", "stages[0].blocks=1", "stages[1].blocks=1",
                          "stages[2].blocks=1", "stages[3].blocks=1"])  # fmt: skip
    model = build(spec).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1000)
