"""Command: check (the shipped properties on variants of a spec, without a test file)."""

from __future__ import annotations

import argparse

from archspec.cli.common import Commands, add_limit_arguments, add_spec_argument, guarded_spec, positive_int


def cmd_check(args: argparse.Namespace) -> int:
    spec, _ = guarded_spec(args)  # variants are never larger than the spec: its check covers theirs
    from archspec.spec.io import dump_spec
    from archspec.testing import properties

    result = properties.check_variants(spec, args.examples, args.seed, properties.check_properties,
                                       max_blocks=args.max_blocks)  # fmt: skip
    if result.ok:
        names = ", ".join(properties.properties_of(spec))
        print(f"ok: {result.examples} variants of {spec.name} have every property ({names}); seed {args.seed}")
        return 0
    assert result.failure is not None and result.counterexample is not None
    print(f"FAILED after {result.examples} variants (seed {args.seed}): {result.failure}")
    print("# the simplest failing variant (shrunk):")
    print(dump_spec(result.counterexample), end="")
    return 1


def register(commands: Commands) -> None:
    p = commands.add("check", cmd_check, "Property-test the family around a spec: build variants of it (fewer "
                     "blocks, narrower, other strides, block options and input sizes) and check output and stage "
                     "shapes, finite forward and backward, params and mult-adds against torchinfo, and "
                     "load(dump(spec)) == spec; a failure prints the shrunk counter-example as YAML "
                     "(exit 1).")  # fmt: skip
    add_spec_argument(p)
    add_limit_arguments(p)
    p.add_argument("--examples", type=positive_int, default=20, help="variants to draw (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw: the same seed draws the same variants")
    p.add_argument("--max-blocks", type=positive_int, default=2, help="blocks per stage at most (default 2)")
