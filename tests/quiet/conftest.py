"""Fixtures for the quiet-mode tests: real models, speech and engines (tests/conftest.py), an EARPIECE_HOME of
their own per test, and the whole system as separate processes (tests/system_rig.py).

    system = start_system(mic_pcm, earbud_args=["--misbehave-audio-in-quiet"])  # paired, bridge running, connected
"""

from __future__ import annotations

import pytest

from tests.system_rig import System


@pytest.fixture(autouse=True)
def _own_home(isolated_home):
    """Every test gets its own EARPIECE_HOME."""


@pytest.fixture
def start_system(tmp_path, models_root):
    """start_system(mic_pcm, **System.start options) -> a paired System (bridge running and connected by default)."""
    systems: list[System] = []

    def start(mic_pcm: bytes, **options) -> System:
        systems.append(System.start(tmp_path, models_root, mic_pcm, name="Earpiece-Quiet", **options))
        return systems[-1]

    yield start
    for system in systems:
        system.stop()
