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


# The libraries archspec leans on are skipped: the test is whether mypy finds archspec's own types (py.typed)
# from a user's file; following torch's annotations as well takes 15 s and tests torch, not archspec.
USER_MYPY_INI = """\
[mypy]
strict = True

[mypy-torch.*,numpy.*,onnx.*,onnxruntime.*,openvino.*,optuna.*,hypothesis.*,sympy.*,PIL.*]
follow_imports = skip
"""


def test_mypy_finds_the_typed_package_from_a_users_own_code(tmp_path: Path) -> None:
    # `make setup` installs in editable "compat" mode: a plain path mypy follows (py.typed marks it typed)
    user = tmp_path / "user.py"
    user.write_text(
        "import archspec\n\n"
        'spec: archspec.ResNetSpec = archspec.load_spec("resnet18")\n'
        "params: int = archspec.complexity(spec).params\n"
        "wrong: str = archspec.complexity(spec).params\n"
    )
    (tmp_path / "mypy.ini").write_text(USER_MYPY_INI)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "user.py"], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0].startswith("user.py:5: error: Incompatible types"), done.stdout
