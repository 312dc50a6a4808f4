"""Augmentation policies (kornia's RandAugment, TrivialAugment, AutoAugment) on whole batches: they change the
images, repeat exactly from the same generator, leave the global RNG alone, and refuse data they cannot take
before any image is decoded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import TINY_SPEC, assert_one_line_error, cli

from archspec.arch.validate import spec_from_text
from archspec.data.augment import Policy
from archspec.data.policies import POLICIES, check_policy
from archspec.data.preprocess import Preprocess
from archspec.errors import ArchspecError
from archspec.recipe.schema import load_recipe
from archspec.train.plan import check_input


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("name", "channels"), [("randaugment", 1), ("trivialaugment", 1), ("autoaugment", 3),
                                                ("randaugment", 3)])  # fmt: skip
def test_policy_changes_images_and_repeats_from_the_same_generator(name: str, channels: int) -> None:
    images = torch.rand(16, channels, 28, 28)
    policy = Policy(name, channels)  # type: ignore[arg-type]
    first, again = policy(images, generator(1)), policy(images, generator(1))
    assert first.shape == images.shape
    assert torch.equal(first, again)
    assert not torch.equal(first, images)
    assert not torch.equal(first, policy(images, generator(2)))  # another draw, other operations


def test_policy_leaves_the_global_rng_where_it_was() -> None:
    images = torch.rand(4, 1, 28, 28)
    state = torch.get_rng_state()
    Policy("randaugment", 1)(images, generator(0))
    assert torch.equal(torch.get_rng_state(), state)


def test_magnitude_changes_what_randaugment_does() -> None:
    images = torch.rand(16, 1, 28, 28)
    weak, strong = Policy("randaugment", 1, magnitude=2), Policy("randaugment", 1, magnitude=28)
    assert not torch.equal(weak(images, generator(3)), strong(images, generator(3)))


def test_preprocess_runs_the_policy_only_when_training() -> None:
    images = torch.randint(0, 256, (8, 28, 28), dtype=torch.uint8)
    prep = Preprocess(size=28, policy=Policy("trivialaugment", 1))
    assert torch.equal(prep(images), Preprocess(size=28)(images))  # evaluation: no augmentation
    assert not torch.equal(prep(images, generator(0)), prep(images))


@pytest.mark.parametrize("name", POLICIES)
def test_which_policies_need_rgb(name: str) -> None:
    check_policy(name, 3)
    if name == "autoaugment":
        with pytest.raises(
            ArchspecError, match=r"^augment\.policy: autoaugment needs 3-channel .* data has 1 channel;"
        ):
            check_policy(name, 1)
    else:
        check_policy(name, 1)


def test_run_plan_refuses_autoaugment_on_one_channel_before_any_data() -> None:
    recipe = load_recipe("d2l", ["resize=null", "augment.policy=autoaugment"])
    with pytest.raises(ArchspecError, match="autoaugment needs 3-channel"):
        check_input(spec_from_text(TINY_SPEC), recipe)


def test_cli_autoaugment_on_fashion_mnist_is_one_line(tiny_spec: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-data"  # never opened: the refusal comes first
    result = cli("train", tiny_spec, "--set", "resize=null", "--set", "augment.policy=autoaugment",
                 "--data-dir", missing, "--out", tmp_path / "run")  # fmt: skip
    assert_one_line_error(result, "augment.policy: autoaugment needs 3-channel (RGB) images", "has 1 channel")
    assert not (tmp_path / "run").exists()


def test_without_kornia_a_policy_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "kornia" else real(name, *a))
    with pytest.raises(
        ArchspecError, match=r"^augment\.policy: randaugment needs kornia; pip install 'archspec\[augment\]'$"
    ):
        check_policy("randaugment", 1)
