"""pyttsx3 driving espeak-ng: robotic but instant (~10 ms a sentence), and on every Linux machine."""

from __future__ import annotations

import atexit
import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from host.pipeline.audio import read_wav
from host.pipeline.tts.base import TtsEngine

log = logging.getLogger(__name__)

# pyttsx3 keeps one engine per driver for the whole process and espeak-ng is a single global instance: every
# Pyttsx3Engine therefore shares one thread. pyttsx3 2.99 applies a changed rate or voice one sentence late
# (and a throwaway sentence breaks the next file), so the first engine's rate and voice hold for the process.
_ESPEAK_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-espeak")
_state: dict = {}


def _espeak(rate: int, voice: str):
    if "engine" not in _state:
        import pyttsx3
        import pyttsx3.drivers.espeak as espeak_driver

        # The espeak driver print()s "Audio saved to ..." after every file; that would corrupt `--json` stdout.
        espeak_driver.print = lambda *args, **kwargs: log.debug(" ".join(map(str, args)))
        engine = pyttsx3.init("espeak")
        engine.setProperty("rate", rate)
        if voice:
            engine.setProperty("voice", voice)
        _state.update(engine=engine, settings=(rate, voice),
                      folder=tempfile.TemporaryDirectory(prefix="earpiece-tts-"))
        # Drop the engine while the interpreter is still whole: pyttsx3's __del__ fails noisily at shutdown.
        atexit.register(_state.clear)
        _save(engine, "Ready.", Path(_state["folder"].name) / "warmup.wav")  # applies the settings
    elif _state["settings"] != (rate, voice):
        log.warning("pyttsx3 keeps one rate and voice per process: staying with rate %s, voice %r",
                    *_state["settings"])
    return _state["engine"], Path(_state["folder"].name)


def _save(engine, text: str, path: Path) -> bytes:
    # One save_to_file per runAndWait (pyttsx3 2.99 drops all but the last file otherwise).
    engine.save_to_file(text, str(path))
    engine.runAndWait()
    pcm = read_wav(path)
    path.unlink(missing_ok=True)
    return pcm


class Pyttsx3Engine(TtsEngine):
    name = "pyttsx3"

    def __init__(self, voice: str = "", rate: int = 175):
        super().__init__(worker=_ESPEAK_THREAD)
        self.voice = voice
        self.rate = rate
        # Fail here, not on the first reply, if espeak-ng is missing.
        _ESPEAK_THREAD.submit(_espeak, rate, voice).result()

    def _synthesize(self, text: str) -> bytes:
        engine, folder = _espeak(self.rate, self.voice)
        return _save(engine, text, folder / "sentence.wav")
