"""Speech synthesis behind one interface (`TtsEngine`): pyttsx3/espeak-ng (default) or Piper (optional)."""

from __future__ import annotations

from host.config import TtsSettings
from host.pipeline.tts.base import TtsEngine
from host.pipeline.tts.sentences import split_sentences

__all__ = ["TtsEngine", "load_engine", "split_sentences"]


def load_engine(settings: TtsSettings) -> TtsEngine:
    if settings.engine == "piper":
        from host.pipeline.tts.piper_engine import PiperEngine

        return PiperEngine(settings.voice)
    from host.pipeline.tts.pyttsx3_engine import Pyttsx3Engine

    return Pyttsx3Engine(settings.voice, settings.rate)
