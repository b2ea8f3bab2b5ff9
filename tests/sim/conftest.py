"""Fixtures for the simulator tests: a radio process per module, WAV files made on the spot."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.system.simulator import start_radio
from tests.sim.wavs import write_tone_wav


@pytest.fixture(autouse=True)
def _own_home(isolated_home: Path) -> None:
    """Never touch the real user's state."""


@pytest.fixture(scope="module")
def radio(tmp_path_factory: pytest.TempPathFactory):
    """A radio with the default (good) link, shared by a module's tests."""
    with start_radio(log_dir=tmp_path_factory.mktemp("radio")) as process:
        yield process


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    return write_tone_wav(tmp_path / "tone.wav")
