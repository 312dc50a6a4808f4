"""archspec.limits, the resource-limit policy: flags, then ARCHSPEC_MAX_*, then the defaults; a refusal names
the flag and the variable (arch/guard.py only computes, in neutral words)."""

from __future__ import annotations

import pytest

from archspec import ResourceError, load_spec
from archspec.arch.guard import Limits, Workload, check_spec, in_force
from archspec.limits import environment_limits, resolve


def test_limits_come_from_flags_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHSPEC_MAX_PARAMS", "1e6")
    assert resolve().params == 1_000_000
    assert resolve(params=5).params == 5
    assert in_force().params == 1_000_000  # archspec/__init__.py puts the environment in force
    monkeypatch.setenv("ARCHSPEC_MAX_PARAMS", "many")
    with pytest.raises(ResourceError, match="ARCHSPEC_MAX_PARAMS: expected a count"):
        resolve()
    monkeypatch.delenv("ARCHSPEC_MAX_PARAMS")
    assert resolve() == environment_limits() == Limits()  # the defaults are arch's: the same numbers


def test_a_refusal_names_the_flag_or_the_variable_as_the_command_has_them() -> None:
    spec = load_spec("resnet18")
    cases = ((resolve(params=10), True, "--max-params or ARCHSPEC_MAX_PARAMS"),
             (resolve(params=10), False, "the environment variable ARCHSPEC_MAX_PARAMS"),
             (resolve(params=10, flags=False), True, "the environment variable ARCHSPEC_MAX_PARAMS"))  # fmt: skip
    for limits, flags, advice in cases:
        with pytest.raises(ResourceError, match=f"exceeds the limit of 10; raise it with {advice}$"):
            check_spec(spec, limits, Workload(), flags=flags)
