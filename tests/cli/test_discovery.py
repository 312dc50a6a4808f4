"""`archspec list --recipes` and `archspec show RECIPE`: the bundled recipes, the spec each was tuned for, and
one resolved with its overrides."""

from __future__ import annotations

from pathlib import Path

from helpers import assert_one_line_error, cli

from archspec.recipe.presets import recipe_names
from archspec.recipe.schema import load_recipe


def test_list_recipes_names_each_with_its_spec() -> None:
    result = cli("list", "--recipes")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["recipe", "tuned", "for"]
    for name in recipe_names():
        recipe = load_recipe(name)
        assert recipe.tuned_for is not None  # every bundled recipe says what it was tuned for
        assert any(line.split()[:2] == [name, recipe.tuned_for] for line in lines), name


def test_show_a_recipe_by_name_or_file(tmp_path: Path) -> None:
    shown = cli("show", "fashion-best", "--set", "epochs=3")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("# recipe fashion-best, tuned for fashion-resnet") and "epochs: 3" in shown.stdout
    path = tmp_path / "mine.yaml"
    path.write_text(shown.stdout)
    again = cli("show", "--recipe", path)
    assert again.returncode == 0 and "epochs: 3" in again.stdout
    assert cli("show", "d2l-resnet18").stdout.startswith("# archspec spec hash:")  # a spec stays a spec


def test_show_recipe_refusals() -> None:
    assert_one_line_error(cli("show", "fashion-best", "--set", "epochs=0"), "epochs")
    assert_one_line_error(cli("show", "--recipe", "nope-recipe"), "nope-recipe")
    assert_one_line_error(cli("show", "d2l", "--input-size", "1", "28", "28"), "--input-size")
