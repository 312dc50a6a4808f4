"""RegNet's names in torchvision (`torchvision.models.regnet.RegNet`) and timm (`timm.models.regnet.RegNet`).

The torchvision and timm layouts use these for a spec whose blocks group their 3x3 convs by `group_width`, as
every RegNet does (the regnet generator sets it) and no torchvision or timm ResNet does:

- torchvision: `stem.0`, `stem.1`; blocks `trunk_output.blockS.blockS-B` (B from 0) with the projection
  `proj.0`, `proj.1` first, then `f.a`, `f.b`, `f.se`, `f.c` (each `.0` conv, `.1` norm); `fc`.
- timm: `stem.conv`, `stem.bn`; blocks `sS.bB` (B from 1) with `conv1`, `conv2`, `se`, `conv3` (each `.conv`,
  `.bn`), then `downsample.conv`, `downsample.bn`; `head.fc`.
"""

from __future__ import annotations

from archspec.spec.schema import ResNetSpec

TORCHVISION_BLOCK = {
    "shortcut.conv": "proj.0", "shortcut.norm": "proj.1",
    "main.conv1": "f.a.0", "main.norm1": "f.a.1", "main.conv2": "f.b.0", "main.norm2": "f.b.1",
    "main.squeeze_excite": "f.se", "main.conv3": "f.c.0", "main.norm3": "f.c.1",
}  # fmt: skip
TORCHVISION_STEM = {"conv": "stem.0", "norm": "stem.1"}
TIMM_BLOCK = {
    "main.conv1": "conv1.conv", "main.norm1": "conv1.bn", "main.conv2": "conv2.conv", "main.norm2": "conv2.bn",
    "main.squeeze_excite": "se", "main.conv3": "conv3.conv", "main.norm3": "conv3.bn",
    "shortcut.conv": "downsample.conv", "shortcut.norm": "downsample.bn",
}  # fmt: skip
TIMM_STEM = {"conv": "stem.conv", "norm": "stem.bn"}


def is_regnet(spec: ResNetSpec) -> bool:
    """Whether `spec` takes RegNet's names: its bottlenecks group their 3x3 convs by group_width."""
    return any(getattr(stage.block, "group_width", None) is not None for stage in spec.stages)


def torchvision_prefix(stage: int, index: int) -> str:
    return f"trunk_output.block{stage + 1}.block{stage + 1}-{index}."


def timm_prefix(stage: int, index: int) -> str:
    return f"s{stage + 1}.b{index + 1}."
