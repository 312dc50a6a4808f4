"""Regenerate tests/spec/preset_hashes.json, every bundled preset's spec_hash: `python tests/spec/preset_hashes.py`.

Run it only when a preset's architecture changed on purpose (say why in the commit). Run folders, checkpoints,
exports and sweeps record these hashes; a new schema field must leave them as they are (spec/io.py's rule:
mark it `json_schema_extra={"since": N}`), so a changed hash for an unchanged preset is a bug.
"""

from __future__ import annotations

import json
from pathlib import Path

HASHES = Path(__file__).with_name("preset_hashes.json")


def main() -> None:
    from archspec import load_spec, preset_names, spec_hash

    hashes = {name: spec_hash(load_spec(name)) for name in preset_names()}
    HASHES.write_text(json.dumps(hashes, indent=2) + "\n")
    print(f"wrote {len(hashes)} hashes to {HASHES}")


if __name__ == "__main__":
    main()
