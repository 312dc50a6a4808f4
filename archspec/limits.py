"""The resource-limit policy of archspec's commands and trainer: where limits come from and what a refusal
tells the user to change. Limits come from a command's --max-* flags, else the ARCHSPEC_MAX_* environment
variables, else archspec.arch.guard's defaults; a refusal names the flag and the variable that raise it.

archspec.arch.guard only computes (a Limits value in, a refusal in neutral words out, with the value's
`advice` hook naming how to raise a limit); this module is the one place that reads the environment or
names a flag. archspec/__init__.py makes `environment_limits` the limits in force for callers that name none
(a checkpoint's stored spec, a sweep's worker), so ARCHSPEC_MAX_* applies to every command.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from archspec.arch.guard import LIMITS, Limit, Limits, parse_count


@dataclass(frozen=True)
class Setting:
    """How the user sets one limit."""

    flag: str
    env: str


SETTINGS = {
    "params": Setting("--max-params", "ARCHSPEC_MAX_PARAMS"),
    "macs": Setting("--max-macs", "ARCHSPEC_MAX_MACS"),
    "activation_bytes": Setting("--max-activation-bytes", "ARCHSPEC_MAX_ACTIVATION_BYTES"),
    "memory_bytes": Setting("--max-memory-bytes", "ARCHSPEC_MAX_MEMORY_BYTES"),
}


def flag_advice(limit: Limit, flags: bool) -> str:
    """A command with --max-* flags: the flag or the variable (only the variable where the check is about
    something the flags do not set, such as a checkpoint's stored spec: `flags` False)."""
    setting = SETTINGS[limit.field]
    return f"{setting.flag} or {setting.env}" if flags else f"the environment variable {setting.env}"


def environment_advice(limit: Limit, flags: bool) -> str:
    """A command without --max-* flags (evaluate, predict, a sweep's workers): the variable alone."""
    return f"the environment variable {SETTINGS[limit.field].env}"


def resolve(
    params: int | None = None, macs: int | None = None, activation_bytes: int | None = None,
    memory_bytes: int | None = None, *, flags: bool = True,
) -> Limits:  # fmt: skip
    """Explicit values (a command's flags) win, then ARCHSPEC_MAX_* environment variables, then the defaults.
    `flags`: whether the command has --max-* flags for a refusal to name. A variable that is not a count is
    a ResourceError naming it."""
    given = {"params": params, "macs": macs, "activation_bytes": activation_bytes, "memory_bytes": memory_bytes}
    values = {}
    for limit in LIMITS:
        value = given[limit.field]
        if value is None:
            env = SETTINGS[limit.field].env
            text = os.environ.get(env)
            value = parse_count(text, env) if text else limit.default
        values[limit.field] = value
    return Limits(**values, advice=flag_advice if flags else environment_advice)


def environment_limits() -> Limits:
    """The limits in force where a caller names none: ARCHSPEC_MAX_* or the defaults, refusals naming the
    variable."""
    return resolve(flags=False)
