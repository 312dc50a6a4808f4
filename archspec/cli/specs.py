"""Commands about spec files: validate, list, schema, show."""

from __future__ import annotations

import argparse
import json
import sys

from archspec.arch.plan import outline
from archspec.arch.validate import load_spec
from archspec.cli.common import (
    SPEC_HELP,
    Commands,
    add_input_size_argument,
    add_set_argument,
    add_spec_argument,
    sized,
    spec_from_args,
)
from archspec.config.diagnostics import printable
from archspec.errors import ArchspecError, SpecError
from archspec.spec.io import dump_spec, spec_hash
from archspec.spec.presets import preset_names
from archspec.spec.schema import json_schema


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for source in args.specs:
        try:
            spec = sized(load_spec(source, args.sets), args.input_size)
        except SpecError as err:
            lines = [problem.message for problem in err.errors] if args.all_errors else [str(err)]
            print("\n".join(printable(line) for line in lines), file=sys.stderr)
            failed += 1
            continue
        except ArchspecError as err:
            print(printable(str(err)), file=sys.stderr)
            failed += 1
            continue
        print(f"ok  {source}  ({spec.name}, {outline(spec).params:,} parameters)")
    return 2 if failed else 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.recipes:
        from archspec.recipe.presets import recipe_names
        from archspec.recipe.schema import load_recipe
        from archspec.report import recipes_table

        print(recipes_table([load_recipe(name) for name in recipe_names()]))
        return 0
    rows = [("preset", "parameters", "input", "description")]
    for name in preset_names():
        spec = load_spec(name)
        shape = f"{spec.input.channels}x{spec.input.height}x{spec.input.width}"
        rows.append((name, f"{outline(spec).params:,}", shape, spec.description))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for name, params, shape, text in rows:
        print(f"{name:<{widths[0]}}  {params:>{widths[1]}}  {shape:<{widths[2]}}  {text}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from archspec.recipe.presets import recipe_names

    if args.recipe or (args.spec in recipe_names() and args.spec not in preset_names()):
        from archspec.recipe.schema import dump_recipe, load_recipe

        if args.input_size:
            raise ArchspecError("--input-size is a spec's; a recipe has none (its resize: is a --set)")
        recipe = load_recipe(args.spec, args.sets)
        print(f"# recipe {recipe.name}" + (f", tuned for {recipe.tuned_for}" if recipe.tuned_for else ""))
        print(dump_recipe(recipe), end="")
        return 0
    spec = spec_from_args(args)
    print(f"# archspec spec hash: {spec_hash(spec)}")
    print(dump_spec(spec), end="")
    return 0


def register(commands: Commands) -> None:
    p = commands.add("validate", cmd_validate, "Check spec files; report every invalid one (exit 2 if any).")
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files or preset names")
    add_set_argument(p, "every spec")
    add_input_size_argument(p, "every spec's")
    p.add_argument("--all-errors", action="store_true", help="list every problem of an invalid spec, one line "
                   "each (default: the first, and how many more)")  # fmt: skip
    p = commands.add("list", cmd_list, "Bundled presets with their parameter counts (--recipes: the bundled recipes).")
    p.add_argument("--recipes", action="store_true", help="list the bundled recipes: name, description and the spec "
                   "each was tuned for")  # fmt: skip
    commands.add("schema", cmd_schema, "JSON Schema of a spec file, extends files included (for editors such as "
                 "yaml-language-server).")  # fmt: skip
    p = commands.add("show", cmd_show, "The fully resolved canonical YAML of a spec and its hash, or of a bundled "
                     "recipe (archspec list --recipes).")  # fmt: skip
    add_spec_argument(p, help_text=f"{SPEC_HELP}, or a bundled recipe name")
    p.add_argument("--recipe", action="store_true", help="SPEC names a recipe (a file or bundled name): show it")
