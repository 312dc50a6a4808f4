"""`archspec.testing.variants_of` draws valid variants of a given spec within narrowable bounds, and
`archspec check` runs the shipped properties on them, printing a shrunk counter-example as YAML."""

from __future__ import annotations

import pytest
import yaml
from helpers import cli
from hypothesis import given, settings

from archspec import ResNetSpec, load_spec
from archspec.testing import properties, variants_of
from archspec.testing.properties import PropertyFailure, check_variants

GN = "docs/examples/resnet50-dilated-gn.yaml"


@pytest.mark.parametrize("name", ["resnet50", "cifar-resnet56", "resnetv2_50", GN])
def test_variants_are_valid_and_within_their_bounds(name: str) -> None:
    spec = load_spec(name)

    @settings(max_examples=30, deadline=None, database=None)
    @given(variants_of(spec, max_blocks=3, sizes=(16, 48)))
    def check(variant: ResNetSpec) -> None:
        assert len(variant.stages) == len(spec.stages)
        for mine, own in zip(variant.stages, spec.stages, strict=True):
            assert 1 <= mine.blocks <= min(3, own.blocks) and mine.channels <= own.channels
        assert variant.input.channels == spec.input.channels
        own_size = (spec.input.height, spec.input.width)
        assert 16 <= variant.input.height <= 48 or (variant.input.height, variant.input.width) == own_size

    check()


def test_narrowed_bounds_keep_the_specs_own_widths_and_strides() -> None:
    spec = load_spec("cifar-resnet20")

    @settings(max_examples=20, deadline=None, database=None)
    @given(variants_of(spec, widths=(1.0,), strides=False, block_options=False))
    def check(variant: ResNetSpec) -> None:
        assert [s.channels for s in variant.stages] == [s.channels for s in spec.stages]
        assert [s.stride for s in variant.stages] == [s.stride for s in spec.stages]
        assert variant.block == spec.block

    check()


def test_the_shipped_properties_hold_on_a_few_variants() -> None:
    result = check_variants(load_spec("resnet18d"), examples=4, seed=1)
    assert result.ok and result.examples == 4


def test_a_failing_property_is_shrunk_to_its_simplest_variant() -> None:
    def two_blocks_fail(spec: ResNetSpec) -> None:
        if spec.stages[1].blocks > 1:
            raise PropertyFailure("toy", "stage 2 has more than one block")

    result = check_variants(load_spec("resnet50"), examples=50, seed=0, check=two_blocks_fail)
    assert not result.ok and result.failure is not None and result.failure.name == "toy"
    shrunk = result.counterexample
    assert shrunk is not None
    assert [s.blocks for s in shrunk.stages] == [1, 2, 1, 1]  # hypothesis shrank every other stage to one block
    assert shrunk.stages[0].channels == 32  # and to the narrowest width (0.125 x 256)


def test_check_command_passes_and_prints_a_counterexample_as_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    done = cli("check", "cifar-resnet20", "--examples", "3", "--seed", "7")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: 3 variants of cifar-resnet20 have every property") and "seed 7" in done.stdout

    def finite_fails(spec: ResNetSpec) -> None:  # the real properties ran above; here only the planted one
        if spec.input.height > 8:
            raise PropertyFailure("finite", "a planted failure")

    monkeypatch.setattr(properties, "check_properties", finite_fails)
    done = cli("check", "cifar-resnet20", "--examples", "5")
    assert done.returncode == 1
    head, _, body = done.stdout.partition("# the simplest failing variant (shrunk):\n")
    assert "FAILED" in head and "finite: a planted failure" in head
    variant = yaml.safe_load(body)
    assert variant["input"]["height"] == 9 and variant["name"] == "cifar-resnet20"
