"""Fixtures for the voice pipeline tests: real models, speech and engines from tests/conftest.py, and no touching of
user state."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_home(isolated_home):
    """Every test gets its own EARPIECE_HOME."""
