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
# Pyttsx3Engine therefore shares one thread (and sets its own voice and rate before each sentence).
_ESPEAK_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-espeak")
_state: dict = {}


def _espeak():
    if "engine" not in _state:
        import pyttsx3
        import pyttsx3.drivers.espeak as espeak_driver

        # The espeak driver print()s "Audio saved to ..." after every file; that would corrupt `--json` stdout.
        espeak_driver.print = lambda *args, **kwargs: log.debug(" ".join(map(str, args)))
        _state["engine"] = pyttsx3.init("espeak")
        _state["folder"] = tempfile.TemporaryDirectory(prefix="earpiece-tts-")
        # Drop the engine while the interpreter is still whole: pyttsx3's __del__ fails noisily at shutdown.
        atexit.register(_state.clear)
    return _state["engine"], Path(_state["folder"].name)


class Pyttsx3Engine(TtsEngine):
    name = "pyttsx3"

    def __init__(self, voice: str = "", rate: int = 175):
        super().__init__(worker=_ESPEAK_THREAD)
        self.voice = voice
        self.rate = rate
        _ESPEAK_THREAD.submit(_espeak).result()  # fail here, not on the first reply, if espeak-ng is missing

    def _synthesize(self, text: str) -> bytes:
        engine, folder = _espeak()
        wanted = (self.rate, self.voice)
        if _state.get("applied") != wanted:
            # Property changes are queued commands: run them on their own, or the next file ignores them.
            engine.setProperty("rate", self.rate)
            if self.voice:
                engine.setProperty("voice", self.voice)
            engine.runAndWait()
            _state["applied"] = wanted
        # One save_to_file per runAndWait (pyttsx3 2.99 drops all but the last file otherwise).
        path = folder / "sentence.wav"
        engine.save_to_file(text, str(path))
        engine.runAndWait()
        pcm = read_wav(path)
        path.unlink(missing_ok=True)
        return pcm
