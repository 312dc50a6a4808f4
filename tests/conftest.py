"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import TINY_SPEC


@pytest.fixture
def tiny_spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC)
    return path
