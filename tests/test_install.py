"""A normal (non-editable) install carries the bundled presets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.slow  # mypy reads torch's annotations: a minute on a shared 2-core machine
def test_mypy_finds_the_typed_package_from_a_users_own_code(tmp_path: Path) -> None:
    # `make setup` installs in editable "compat" mode: a plain path mypy follows (py.typed marks it typed)
    user = tmp_path / "user.py"
    user.write_text(
        "import archspec\n\n"
        'spec: archspec.ResNetSpec = archspec.load_spec("resnet18")\n'
        "params: int = archspec.complexity(spec).params\n"
        "wrong: str = archspec.complexity(spec).params\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "user.py"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0].startswith("user.py:5: error: Incompatible types"), done.stdout
