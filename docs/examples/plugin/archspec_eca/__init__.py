"""archspec-eca: the ECA channel gate (Wang et al. 2020, "ECA-Net") for archspec.

archspec calls `register()` through the entry point in pyproject.toml (group `archspec.kinds`); it
registers one primitive, `eca_gate`, and two block kinds using it, `eca_basic` and `eca_bottleneck`; and an
anti-aliased shortcut kind, `blur_conv_norm` (Zhang 2019), with its primitive `blur_pool`.
"""

from __future__ import annotations


def register() -> None:
    """Register this package's kinds with archspec (the functions archspec's own kinds register through)."""
    from archspec.spec.kinds import register_block, register_primitive, register_shortcut
    from archspec_eca.blur import BlurPool, blur_conv_norm
    from archspec_eca.gate import EcaBasicBlockSpec, EcaBottleneckBlockSpec, EcaGate

    register_primitive(EcaGate, torch="archspec_eca.nn:make")  # torch is imported only when a model is built
    register_block(EcaBasicBlockSpec, strategies="archspec_eca.strategies:block_fields")
    register_block(EcaBottleneckBlockSpec, strategies="archspec_eca.strategies:block_fields")
    register_primitive(BlurPool, torch="archspec_eca.nn:make_blur")
    register_shortcut("blur_conv_norm", blur_conv_norm, "A 3x3 blur pool where strided (anti-aliased, Zhang 2019), "
                      "then a bias-free 1x1 conv and norm.")  # fmt: skip
