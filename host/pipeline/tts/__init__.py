"""Speech synthesis behind one interface (`TtsEngine`): pyttsx3/espeak-ng (default), Piper (optional), or a Wyoming
text-to-speech server (`[tts] engine = "wyoming"`, with espeak-ng standing by: tts/fallback.py)."""

from __future__ import annotations

from host.config import TtsSettings
from host.pipeline.tts.base import TtsEngine
from host.pipeline.tts.sentences import split_sentences

__all__ = ["TtsEngine", "load_engine", "split_sentences"]


def load_engine(settings: TtsSettings) -> TtsEngine:
    if settings.engine == "wyoming":
        return load_remote(settings)
    if settings.engine == "piper":
        from host.pipeline.tts.piper_engine import PiperEngine

        return PiperEngine(settings.voice)
    from host.pipeline.tts.pyttsx3_engine import Pyttsx3Engine

    return Pyttsx3Engine(settings.voice, settings.rate)


def load_remote(settings: TtsSettings) -> TtsEngine:
    """The Wyoming server at [tts] uri, with espeak-ng standing by when it works here."""
    from host.pipeline.tts.base import TtsError
    from host.pipeline.tts.fallback import FallbackTtsEngine
    from host.pipeline.tts.pyttsx3_engine import Pyttsx3Engine
    from host.pipeline.tts.wyoming_engine import WyomingTtsEngine

    server = WyomingTtsEngine(settings.uri, settings.voice, settings.timeout_s)
    try:
        local = Pyttsx3Engine("", settings.rate)  # [tts] voice names the server's voice, not an espeak-ng one
    except TtsError:
        local = None
    engine = FallbackTtsEngine(server, local)
    engine.start()
    return engine
