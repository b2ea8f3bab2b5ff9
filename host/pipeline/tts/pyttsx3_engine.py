"""pyttsx3 driving espeak-ng: robotic but instant (~10 ms a sentence), and on every Linux machine."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from host.pipeline.audio import read_wav
from host.pipeline.tts.base import TtsEngine

log = logging.getLogger(__name__)


class Pyttsx3Engine(TtsEngine):
    name = "pyttsx3"

    def __init__(self, voice: str = "", rate: int = 175):
        super().__init__()
        self.voice = voice
        self.rate = rate
        self._engine = None
        self._folder = tempfile.TemporaryDirectory(prefix="earpiece-tts-")
        # Create the pyttsx3 engine on the worker thread that will use it.
        self._worker.submit(self._init).result()

    def _init(self) -> None:
        import pyttsx3
        import pyttsx3.drivers.espeak as espeak_driver

        # The espeak driver print()s "Audio saved to ..." after every file; that would corrupt `--json` stdout.
        espeak_driver.print = lambda *args, **kwargs: log.debug(" ".join(map(str, args)))
        self._engine = pyttsx3.init("espeak")
        self._engine.setProperty("rate", self.rate)
        if self.voice:
            self._engine.setProperty("voice", self.voice)

    def synthesize(self, text: str) -> bytes:
        # One save_to_file per runAndWait (pyttsx3 2.99 drops all but the last file otherwise).
        path = Path(self._folder.name) / "sentence.wav"
        self._engine.save_to_file(text, str(path))
        self._engine.runAndWait()
        pcm = read_wav(path)
        path.unlink(missing_ok=True)
        return pcm
