"""The timm-level recipe fields (mixup, cutmix, policies, ema, clip_grad_norm, step schedules, progressive
resizing): defaults that change nothing, values that round-trip, and every bad value a located one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_one_line_error, cli

from archspec.errors import SpecError
from archspec.recipe.schema import (
    Ema,
    MultiStep,
    ProgressiveResize,
    Step,
    dump_recipe,
    load_recipe,
    recipe_from_text,
    training_workload,
)

ALL = [
    "epochs=6",
    "augment.mixup=0.2",
    "augment.cutmix=1.0",
    "augment.mix_prob=0.8",
    "augment.switch_prob=0.3",
    "augment.policy=randaugment",
    "augment.policy_magnitude=12",
    "ema={decay: 0.99, warmup: 10, every: 2, test_every: 3}",
    "clip_grad_norm=2.0",
    "eval_flip=true",
    "schedule={kind: multistep, milestones: [2, 4], gamma: 0.2}",
    "progressive_resize={size: 16, ramp: [2, 5]}",
]


def test_defaults_leave_the_new_fields_off() -> None:
    recipe = load_recipe("d2l")
    aug = recipe.augment
    assert (aug.mixup, aug.cutmix, aug.policy, recipe.ema, recipe.clip_grad_norm) == (None, None, None, None, None)
    assert recipe.progressive_resize is None
    assert recipe.eval_flip is False


def test_every_new_field_round_trips() -> None:
    recipe = load_recipe("fashion-best", ALL)
    assert recipe.ema == Ema(decay=0.99, warmup=10, every=2, test_every=3)
    assert recipe.schedule == MultiStep(kind="multistep", milestones=(2, 4), gamma=0.2)
    assert recipe.progressive_resize == ProgressiveResize(size=16, ramp=(2, 5), multiple=4)
    assert recipe_from_text(dump_recipe(recipe)) == recipe
    step = load_recipe("d2l", ["schedule={kind: step, step_size: 3}"]).schedule
    assert step == Step(kind="step", step_size=3, gamma=0.1)


def test_the_average_counts_as_a_second_copy_of_the_weights() -> None:
    assert training_workload(load_recipe("d2l", ["ema.decay=0.9"])).models == 2
    assert training_workload(load_recipe("d2l")).models == 1


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("augment.mixup=0", "augment.mixup: must be greater than 0, got 0"),
        ("augment.mixup=-0.5", "augment.mixup: must be greater than 0"),
        ("augment.mixup=.nan", "augment.mixup: must be a finite number, got nan"),
        ("augment.cutmix=0", "augment.cutmix: must be greater than 0"),
        ("augment.cutmix=.inf", "augment.cutmix: must be a finite number, got inf"),
        ("augment.mix_prob=1.5", "augment.mix_prob: must be less than or equal to 1"),
        ("augment.switch_prob=-0.1", "augment.switch_prob: must be greater than or equal to 0"),
        ("augment.policy=randaugmnt", "augment.policy: must be 'randaugment', 'trivialaugment' or 'autoaugment'"),
        ("augment.policy_magnitude=30", "augment.policy_magnitude: must be less than or equal to 29"),
        ("ema.decay=1", "ema.decay: must be less than 1, got 1"),
        ("ema.decay=0", "ema.decay: must be greater than 0, got 0"),
        ("ema.every=0", "ema.every: must be greater than 0"),
        ("ema.test_every=0", "ema.test_every: must be greater than 0"),
        ("ema.test_every=1.5", "ema.test_every: "),
        ("conv_weight_grad=swaped", "conv_weight_grad: must be 'auto', 'native' or 'swapped'"),
        ("conv_weight_grad=true", "conv_weight_grad: must be 'auto', 'native' or 'swapped'"),
        ("clip_grad_norm=0", "clip_grad_norm: must be greater than 0, got 0"),
        ("clip_grad_norm=-1", "clip_grad_norm: must be greater than 0"),
        ("schedule={kind: multistep, milestones: [2, 10]}",
         "schedule.milestones[1]: epoch 10 is not below epochs (10): the lr would never drop there"),
        ("schedule={kind: multistep, milestones: [3, 3]}",
         "schedule.milestones[1]: must be above the milestone before it (3), got 3"),
        ("schedule={kind: multistep, milestones: []}", "schedule.milestones: "),
        ("schedule={kind: step, step_size: 2, gamma: 0}", "schedule.gamma: must be greater than 0"),
        ("progressive_resize={size: 16, ramp: [4, 11]}",
         "progressive_resize.ramp[1]: epoch 11 is past epochs (10): the inputs would never reach the spec's size"),
        ("progressive_resize={size: 16, ramp: [5, 5]}",
         "progressive_resize.ramp: must be [first, last] with first < last, got [5, 5]"),
        ("progressive_resize={size: 4, ramp: [1, 2]}", "progressive_resize.size: must be greater than or equal to 8"),
        ("progressive_resize={size: 16, ramp: [-1, 2]}", "progressive_resize.ramp[0]: must be greater than or equal"),
        ("progressive_resize={size: 16, ramp: [2]}", "progressive_resize.ramp[1]: required field is missing"),
        ("progressive_resize={size: 16, ramp: [1, 2], multiple: 0}",
         "progressive_resize.multiple: must be greater than 0"),
        ("progressive_resize={ramp: [1, 2]}", "progressive_resize.size: required field is missing"),
    ],
)  # fmt: skip
def test_bad_values_are_located_one_line_errors(override: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        load_recipe("d2l", [override])
    message = str(info.value)
    assert message.startswith(f"--set {override}: {fragment}"), message
    assert "\n" not in message


def test_bad_value_in_a_file_names_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    good = "name: r\nepochs: 2\nbatch_size: 8\noptimizer: {kind: sgd, lr: 0.1}\n"
    path.write_text(good + "augment: {cutmix: 0.0}\nema: {decay: 1.5}\n")
    with pytest.raises(
        SpecError,
        match=rf"^{path}:5:11: augment\.cutmix: must be greater than 0, got 0\.0 \(and 1 more; --all-errors lists",
    ):
        load_recipe(path)


def test_cli_bad_ema_decay_is_one_line_exit_2(tiny_spec: Path) -> None:
    result = cli("train", tiny_spec, "--set", "resize=null", "--set", "ema.decay=1.5", "--data-dir", "sample")
    assert_one_line_error(result, "--set ema.decay=1.5: ema.decay: must be less than 1")


def test_cli_progressive_size_not_below_the_spec_is_one_line_exit_2(tiny_spec: Path) -> None:
    result = cli("train", tiny_spec, "--set", "resize=null", "--set", "progressive_resize={size: 28, ramp: [1, 2]}",
                 "--data-dir", "sample")  # fmt: skip
    assert_one_line_error(result, "recipe d2l: progressive_resize.size 28 is not below spec tiny's input 28x28")
