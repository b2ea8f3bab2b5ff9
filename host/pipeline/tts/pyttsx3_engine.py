"""pyttsx3's espeak-ng: robotic but instant (~10 ms a sentence), and on every Linux machine.

We call pyttsx3's own espeak-ng binding (`pyttsx3.drivers._espeak`) in espeak-ng's synchronous mode rather than
going through `pyttsx3.init("espeak")`. pyttsx3 2.99's driver runs espeak-ng asynchronously and returns at the last
callback while espeak-ng's thread is still winding down, so measured here about 1 sentence in 10 came back as
silence or at the previous rate. Synchronous synthesis has no such race, and the rate and voice now apply to the
very next sentence, so engines with different settings can share the process.
"""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor

from host.pipeline.audio import resample
from host.pipeline.tts.base import TtsEngine, TtsError

# espeak-ng is one global instance per process: every Pyttsx3Engine shares one thread and one initialisation.
_ESPEAK_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts-espeak")
_state: dict = {}


def _espeak():
    """pyttsx3's espeak-ng binding, initialised once for synchronous synthesis (worker thread only)."""
    if "binding" not in _state:
        try:
            from pyttsx3.drivers import _espeak as binding
        except Exception as error:  # pyttsx3 raises a bare Exception when libespeak-ng is missing
            raise TtsError(f"espeak-ng is not usable ({error}); install it: apt-get install espeak-ng") from None
        rate = binding.Initialize(binding.AUDIO_OUTPUT_SYNCHRONOUS, 0)
        if rate <= 0:
            raise TtsError("espeak-ng did not start; check `espeak-ng --version` works")
        chunks: list[bytes] = []

        def collect(wav, numsamples, _events):
            if numsamples > 0:
                chunks.append(ctypes.string_at(wav, numsamples * 2))
            return 0

        binding.SetSynthCallback(collect)
        _state.update(binding=binding, rate=rate, chunks=chunks, callback=collect)
    return _state


def _check_voice(voice: str) -> None:
    """espeak-ng silently falls back to its default for a voice it lacks: say so instead."""
    if not voice:
        return
    known = set()
    for entry in _espeak()["binding"].ListVoices(None):
        identifier = entry.identifier.decode().lower()
        known |= {entry.name.decode().lower(), identifier, identifier.rsplit("/", 1)[-1],
                  entry.languages[1:].decode(errors="ignore").lower()}
    if voice.lower() not in known:
        raise TtsError(f"espeak-ng has no voice {voice!r}; list them with `espeak-ng --voices`")


def _check_ready(voice: str) -> None:
    _espeak()
    _check_voice(voice)


def _synthesize(text: str, rate: int, voice: str) -> bytes:
    state = _espeak()
    binding = state["binding"]
    binding.SetParameter(binding.RATE, rate, 0)
    binding.SetVoiceByName((voice or "en").encode())  # "en" is espeak-ng's own default
    state["chunks"].clear()
    binding.Synth(text.encode("utf-8"), flags=binding.ENDPAUSE | binding.CHARS_UTF8)
    return resample(b"".join(state["chunks"]), state["rate"])


class Pyttsx3Engine(TtsEngine):
    name = "pyttsx3"

    def __init__(self, voice: str = "", rate: int = 175):
        super().__init__(worker=_ESPEAK_THREAD)
        self.voice = voice
        self.rate = rate
        # Fail here, not on the first reply, if espeak-ng (its initialisation) or the voice is missing.
        _ESPEAK_THREAD.submit(_check_ready, voice).result()

    def _synthesize(self, text: str) -> bytes:
        return _synthesize(text, self.rate, self.voice)
