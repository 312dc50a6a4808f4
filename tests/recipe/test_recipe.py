"""Recipes: bundled ones validate, bad files and --set overrides give file:line errors, the CLI exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_one_line_error, cli

from archspec.errors import SpecError
from archspec.recipe.presets import recipe_names
from archspec.recipe.schema import SGD, AdamW, Cosine, dump_recipe, load_recipe, recipe_from_text

GOOD = """\
name: r
epochs: 2
batch_size: 8
optimizer: {kind: sgd, lr: 0.1}
"""


@pytest.mark.parametrize("name", recipe_names())
def test_bundled_recipes_validate_and_round_trip(name: str) -> None:
    recipe = load_recipe(name)
    assert recipe_from_text(dump_recipe(recipe)) == recipe


def test_d2l_recipe_is_the_seed() -> None:
    recipe = load_recipe("d2l")
    assert (recipe.dataset, recipe.resize, recipe.epochs, recipe.batch_size) == ("fashion-mnist", 96, 10, 256)
    assert recipe.optimizer == SGD(kind="sgd", lr=0.05)
    assert recipe.init == "xavier" and recipe.augment.crop_padding == 0 and not recipe.augment.flip


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        (GOOD + "epochz: 3\n", ":5:1:", "unknown field 'epochz'; did you mean 'epochs'?"),
        (GOOD.replace("epochs: 2", "epochs: two"), ":2:1:", "epochs: must be a valid integer"),
        (GOOD.replace("lr: 0.1", "lr: -1"), ":4:24:", "optimizer.lr: must be greater than 0"),
        (GOOD + "augment: {flip: true, erasing: 2}\n", ":5:23:", "augment.erasing: must be less than or equal to 1"),
        (GOOD + "precision: fp8\n", ":5:1:", "precision: must be 'auto', 'fp32', 'bf16' or 'fp16'"),
        (GOOD.replace("lr: 0.1", "lr: 0.1, nesterov: true"), ":4:", "optimizer.nesterov: needs momentum > 0"),
    ],
)
def test_invalid_recipe_names_file_line_and_field(tmp_path: Path, text: str, where: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_recipe(path)
    message = str(info.value)
    assert message.startswith(f"{path}{where}"), message
    assert fragment in message


def test_overrides_apply_in_order_and_switch_kinds() -> None:
    recipe = load_recipe("d2l", ["epochs=2", "schedule.kind=cosine", "optimizer.kind=adamw", "optimizer.lr=0.1"])
    assert recipe.epochs == 2
    assert isinstance(recipe.optimizer, AdamW) and recipe.optimizer.lr == 0.1
    assert isinstance(recipe.schedule, Cosine)


def test_another_kind_starts_afresh_as_in_specs() -> None:
    # The one kind-switch rule (archspec.config.merge): sgd's lr does not carry over to adamw.
    with pytest.raises(SpecError, match=r"^--set optimizer\.kind=adamw: optimizer\.lr: required field is missing"):
        load_recipe("d2l", ["optimizer.lr=0.1", "optimizer.kind=adamw"])


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("epochs=x", "--set epochs=x: epochs: must be a valid integer"),
        ("epochz=3", "--set epochz=3: epochz: unknown field 'epochz'; did you mean 'epochs'?"),
        ("optimizer.lr=0", "--set optimizer.lr=0: optimizer.lr: must be greater than 0"),
        ("optimzer.lr=1", "--set optimzer.lr=1: optimzer: unknown field 'optimzer'; did you mean 'optimizer'?"),
        ("epochs", "--set epochs: expected PATH=VALUE"),
    ],
)
def test_bad_override_names_the_override(override: str, fragment: str) -> None:
    with pytest.raises(SpecError, match="^" + fragment.replace(".", r"\.").replace("?", r"\?")):
        load_recipe("d2l", [override])


def test_cli_bad_recipe_is_one_line_exit_2(tmp_path: Path, tiny_spec: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("batch_size: 8", "batch_size: 0"))
    result = cli("train", tiny_spec, "--recipe", path, "--out", tmp_path / "run")
    assert_one_line_error(result, f"{path}:3:1:", "batch_size: must be greater than 0")
    assert not (tmp_path / "run").exists()


def test_cli_bad_set_is_one_line_exit_2(tmp_path: Path, tiny_spec: Path) -> None:
    result = cli("train", tiny_spec, "--set", "optimizer.momentum=1.5", "--out", tmp_path / "run")
    assert_one_line_error(result, "--set optimizer.momentum=1.5: optimizer.momentum: must be less than 1")


def test_cli_unknown_recipe_lists_bundled(tmp_path: Path, tiny_spec: Path) -> None:
    result = cli("train", tiny_spec, "--recipe", "d2k")
    assert_one_line_error(result, "d2k: no such file, and no bundled recipe of that name", "d2l")
