"""Fixtures for the benchmark-harness tests: no user state is touched; models come from the repo's shared cache
(installed by the same code as `earpiece models install`, wheels kept for reuse)."""

from __future__ import annotations

from pathlib import Path

import pytest

from host import models

REPO = Path(__file__).resolve().parents[2]
SHARED_CACHE = REPO / ".cache"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("EARPIECE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EARPIECE_MODELS_DIR", raising=False)


@pytest.fixture(scope="session")
def models_root() -> Path:
    root = SHARED_CACHE / "models"
    models.install(root, wheel_dir=SHARED_CACHE / "wheels")
    return root


@pytest.fixture
def use_models(models_root, monkeypatch) -> Path:
    monkeypatch.setenv("EARPIECE_MODELS_DIR", str(models_root))
    return models_root
