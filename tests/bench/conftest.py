"""Fixtures for the benchmark-harness tests: no user state is touched; models come from tests/conftest.py."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("EARPIECE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EARPIECE_MODELS_DIR", raising=False)
