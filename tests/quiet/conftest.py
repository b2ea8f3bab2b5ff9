"""Fixtures for the quiet-mode tests: real models (tests/conftest.py's models_root), speech made with espeak-ng,
an EARPIECE_HOME of their own per test, and the whole system as separate processes (tests/system_rig.py).

    system = start_system(mic_pcm, earbud_args=["--misbehave-audio-in-quiet"])  # paired, bridge running, connected
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from host.config import Config
from host.pipeline.audio import read_wav
from tests.system_rig import System


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("EARPIECE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EARPIECE_MODELS_DIR", raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory):
    """speech_wav(text) -> a WAV of espeak-ng saying it (22050 Hz), cached for the session."""
    folder = tmp_path_factory.mktemp("quiet-speech")

    def make(text: str) -> Path:
        path = folder / (hashlib.sha1(text.encode()).hexdigest()[:16] + ".wav")
        if not path.exists():
            subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
        return path

    return make


@pytest.fixture(scope="session")
def speech(speech_wav):
    """speech(text) -> 16 kHz mono PCM of espeak-ng saying it."""
    return lambda text: read_wav(speech_wav(text))


@pytest.fixture(scope="session")
def engines(models_root):
    """Default engines (hey_jarvis, whisper tiny.en, pyttsx3), loaded once as the bridge does."""
    from host.pipeline.engines import Engines

    loaded = Engines.load(Config(), models_root)
    yield loaded
    loaded.close()


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
