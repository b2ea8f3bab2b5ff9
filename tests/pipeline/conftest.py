"""Fixtures for the voice pipeline tests: real models (the user's model cache, see tests/conftest.py), real
synthesized speech (espeak-ng, generated at test time and cached for the session), and no touching of user state."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from host.config import Config
from host.pipeline.audio import read_wav


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch, request):
    """Every test gets its own EARPIECE_HOME; models come from the shared cache (set per test that needs it)."""
    monkeypatch.setenv("EARPIECE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EARPIECE_MODELS_DIR", raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def speech_wav(speech_dir):
    """speech_wav(text, voice="en-us") -> path of a WAV (22050 Hz, espeak-ng) saying it; cached per session."""

    def make(text: str, voice: str = "en-us") -> Path:
        name = hashlib.sha1(f"{voice}|{text}".encode()).hexdigest()[:16] + ".wav"
        path = speech_dir / name
        if not path.exists():
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
        return path

    return make


@pytest.fixture(scope="session")
def speech(speech_wav):
    """speech(text) -> 16 kHz PCM of espeak-ng saying it."""
    return lambda text, voice="en-us": read_wav(speech_wav(text, voice))


@pytest.fixture(scope="session")
def engines(models_root):
    """Default engines (hey_jarvis, whisper tiny.en, pyttsx3), loaded once and shared like the bridge does."""
    from host.pipeline.engines import Engines

    loaded = Engines.load(Config(), models_root)
    yield loaded
    loaded.close()
