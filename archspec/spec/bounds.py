"""The largest value each count of a spec may take: far beyond any published ResNet, small enough that no
figure derived from a spec overflows what torch accepts (2^63) and that validating a spec stays instant.

The schema reads these (`le=` on each field, so the JSON Schema and docs/spec-reference.md state them);
the resource guard (archspec/arch/guard.py) then decides what fits the machine.
"""

from __future__ import annotations

MAX_BLOCKS = 1_000  # residual blocks in the whole network: ResNet-1202, the deepest published, has 600
MAX_CHANNELS = 65_536  # any width: stage and stem channels, groups, norm groups, input channels
MAX_INPUT_SIDE = 16_384  # input height and width, in pixels
MAX_KERNEL = 31  # kernel size of any conv or pool, and conv padding
MAX_STRIDE = 16  # stem conv and pool strides
MAX_EXPANSION = 1_024  # a bottleneck's channels / inner width
MAX_CLASSES = 1_000_000  # classifier outputs
MAX_OUTPUT_STRIDE = 1_024
MAX_MULTIPLIER = 1_000.0  # `width` and `depth` directives
MAX_TEXT = 2_000  # characters of a free-text description
