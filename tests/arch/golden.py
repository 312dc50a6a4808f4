"""Regenerate tests/golden_params.json from the bundled presets: `python tests/golden.py`.

Run it only when a preset's architecture changed on purpose (and say why in the commit): the
counts are checked against torchvision's and timm's published models, so a change is a bug
unless the preset itself was meant to change.
"""

from __future__ import annotations

import json
from pathlib import Path

GOLDEN = Path(__file__).with_name("golden_params.json")


def load() -> dict[str, int]:
    data: dict[str, int] = json.loads(GOLDEN.read_text())
    return data


def main() -> None:
    from archspec import load_spec, lower, preset_names

    counts = {name: lower(load_spec(name)).params for name in preset_names()}
    GOLDEN.write_text(json.dumps(counts, indent=2) + "\n")
    print(f"wrote {len(counts)} counts to {GOLDEN}")


if __name__ == "__main__":
    main()
