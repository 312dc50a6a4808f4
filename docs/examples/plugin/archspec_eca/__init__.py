"""archspec-eca: the ECA channel gate (Wang et al. 2020, "ECA-Net") for archspec.

archspec calls `register()` through the entry point in pyproject.toml (group `archspec.kinds`); it
registers one primitive, `eca_gate`, and two block kinds using it, `eca_basic` and `eca_bottleneck`.
"""

from __future__ import annotations


def register() -> None:
    """Register this package's kinds with archspec (the functions archspec's own kinds register through)."""
    from archspec.spec.kinds import register_block, register_primitive
    from archspec_eca.gate import EcaBasicBlockSpec, EcaBottleneckBlockSpec, EcaGate

    register_primitive(EcaGate, torch="archspec_eca.nn:make")  # torch is imported only when a model is built
    register_block(EcaBasicBlockSpec, strategies="archspec_eca.strategies:block_fields")
    register_block(EcaBottleneckBlockSpec, strategies="archspec_eca.strategies:block_fields")
