"""Every test here decodes into its own cache folder, never the user's ~/.cache/archspec."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("ARCHSPEC_CACHE", str(cache))
    return cache
