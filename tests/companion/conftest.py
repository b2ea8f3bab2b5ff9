"""Companion tests never touch the user's memory: every test gets its own EARPIECE_HOME."""

import pytest


@pytest.fixture(autouse=True)
def _home(isolated_home):
    return isolated_home
