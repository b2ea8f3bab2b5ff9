"""Fixtures for the PyAudio tests: a private PulseAudio server (session-wide) that every test here talks to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pyaudio.pulse_server import PulseServer


@pytest.fixture(scope="session")
def pulse_server(tmp_path_factory: pytest.TempPathFactory):
    try:
        server = PulseServer(tmp_path_factory.mktemp("pulse"))
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)  # never a skip: this machine must be able to run them
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _use_pulse_server(pulse_server: PulseServer, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> PulseServer:
    """Point this process and the processes it starts at the private server; never touch the user's state."""
    for key, value in pulse_server.env.items():
        monkeypatch.setenv(key, value)
    return pulse_server
