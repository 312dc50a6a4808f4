"""The example plugin (docs/examples/plugin, archspec-eca) installed for the tests, and archspec run with it.

`install_example` pip-installs a copy of the plugin into a temporary target folder, once per test session
(no dependencies, no build isolation: offline and quick); `run_with` runs several `archspec` command lines
in one subprocess whose PYTHONPATH holds that folder, so only installed entry points are what archspec
finds, as a user's would be. `write_bad_plugin` fakes an installed distribution whose entry points fail.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import cli_env

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "plugin"
SPEC = EXAMPLE / "eca-fashion.yaml"

# main() for each argv in turn, in one interpreter (one start for many commands); results to a JSON file.
_RUNNER = """
import contextlib, io, json, sys
from archspec.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = int(stop.code or 0)
    results.append([code, out.getvalue(), err.getvalue()])
with open(sys.argv[2], "w") as file:
    json.dump(results, file)
"""


def install_example(factory: pytest.TempPathFactory) -> Path:
    """The example plugin pip-installed (from a copy of its source) into a temporary folder; returns that folder.

    Installed once per test session: the folder sits beside the pytest-xdist workers' temporary roots, named by
    the source's content, and a lock makes the other workers wait for the first one's install.
    """
    files = sorted(path for path in EXAMPLE.rglob("*") if path.is_file() and "__pycache__" not in path.parts)
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()[:12]
    base = factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / f"archspec-eca-{digest}"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        source, target = shared / "source", shared / "site"
        if not (shared / "installed").exists():
            shutil.rmtree(source, ignore_errors=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--disable-pip-version-check", "--no-index", "--target", str(target), str(source)],
                           check=True, capture_output=True, timeout=300)  # fmt: skip
            (shared / "installed").touch()
    return target


def env_with(*paths: Path) -> dict[str, str]:
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_with(site: Path, *commands: list[str | Path], cwd: Path = ROOT) -> list[subprocess.CompletedProcess[str]]:
    """Each `archspec` command line, in order, in one subprocess with `site` on its path."""
    argvs = [[str(arg) for arg in command] for command in commands]
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.json"
        done = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(argvs), str(results)], env=env_with(site),
                              cwd=cwd, capture_output=True, text=True, timeout=600)  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"the runner failed:\n{done.stdout}\n{done.stderr}")
        outcomes = json.loads(results.read_text())
    return [subprocess.CompletedProcess(["archspec", *argv], code, out, err)
            for argv, (code, out, err) in zip(argvs, outcomes, strict=True)]  # fmt: skip


def python_with(site: Path, code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`python -c code` with `site` on its path (and tests/, for the helpers)."""
    done = subprocess.run([sys.executable, "-c", code], env=env_with(site, ROOT / "tests"), cwd=cwd,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"python failed:\n{done.stdout}\n{done.stderr}")
    return done


BAD_PLUGIN = """
from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field

from archspec.arch.primitives import Primitive
from archspec.spec.blocks.base import BlockBase
from archspec.spec.blocks.basic import BasicBlockSpec
from archspec.spec.kinds import register_block, register_primitive, register_shortcut, register_stem
from archspec.spec.stems.base import StemBase


def dup():
    class Again(BasicBlockSpec):  # kind 'basic', archspec's own
        pass

    register_block(Again)


def loose():
    class Loose(BlockBase):
        model_config = ConfigDict(extra="ignore", frozen=True)  # a typo'd field would pass unnoticed
        kind: Literal["loose_basic"] = Field(description="A block whose schema ignores unknown keys.")

        def branch(self, layers, channels, at):
            layers.conv_norm_act("1", channels, 3, at.stride)

    register_block(Loose)


def raising():
    class Raising(BlockBase):
        kind: Literal["raising_basic"] = Field(description="A block whose lowering raises.")

        def branch(self, layers, channels, at):
            raise ZeroDivisionError("a bug in the plugin")

    register_block(Raising)


@dataclass(frozen=True)
class WrongGate(Primitive):
    \"\"\"A biased 1x1 conv whose analytic count forgets the bias.\"\"\"

    channels: int
    op_name = "wrong_gate"

    @property
    def params(self):
        return self.channels * self.channels

    def macs(self, out):
        return self.channels * self.channels * out.height * out.width

    def torchinfo_mult_adds(self, out):
        return self.params * out.height * out.width


def make_wrong(op):
    from torch import nn

    return nn.Conv2d(op.channels, op.channels, 1)


def wrong():
    class Wrong(BlockBase):
        kind: Literal["wrong_basic"] = Field(description="A block ending with a gate whose count is wrong.")

        def branch(self, layers, channels, at):
            layers.conv_norm_act("1", channels, 3, at.stride)
            layers.add("gate", WrongGate(channels))

    register_primitive(WrongGate, torch="badplug:make_wrong")
    register_block(Wrong)


def good():
    class PatchStem(StemBase):
        kind: Literal["patch"] = Field(description="One strided patchify conv, norm and activation.")
        patch: int = Field(2, ge=1, le=8, description="Patch size: the conv's kernel and stride.")

        def lower(self, layers):
            layers.conv_norm_act("", self.channels, self.patch, self.patch, padding=0, loc=("stem", "patch"))
            return self.patch

    def max_conv_norm(layers, channels, stride, loc):
        if stride > 1:
            layers.pool("pool", "max", stride, stride, 0, ceil_mode=True)
        layers.conv_norm_act("", channels, 1, padding=0, bias=False, act=False)

    register_stem(PatchStem)
    register_shortcut("max_conv_norm", max_conv_norm, "A max pool where strided, then a 1x1 conv and norm.")
"""


def write_bad_plugin(root: Path) -> Path:
    """A fake installed distribution `badplug` under `root`: a .dist-info with six entry points, one whose
    module does not exist, one registering archspec's `basic` again, one whose schema does not forbid unknown
    keys, one (`raising_basic`) whose lowering raises, one (`wrong_basic`) whose primitive's analytic
    parameter count disagrees with its module, and a good one, a `patch` stem and a `max_conv_norm` shortcut.
    Returns `root`, for sys.path or PYTHONPATH."""
    (root / "badplug").mkdir(parents=True)
    (root / "badplug" / "__init__.py").write_text(BAD_PLUGIN)
    info = root / "badplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: badplug\nVersion: 0.1\n")
    points = ("broken = badplug.missing:register", "dup = badplug:dup", "loose = badplug:loose",
              "raising = badplug:raising", "wrong = badplug:wrong", "good = badplug:good")  # fmt: skip
    (info / "entry_points.txt").write_text("[archspec.kinds]\n" + "".join(f"{point}\n" for point in points))
    return root
