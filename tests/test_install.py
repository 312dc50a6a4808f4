"""A normal (non-editable) install carries the bundled presets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_presets_are_found_after_a_plain_install(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT)],
        check=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    code = "import archspec; print(archspec.__file__); print(archspec.lower(archspec.load_spec('resnet50')).params)"
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    location, params = done.stdout.split()
    assert location.startswith(str(target))
    assert params == "25557032"
