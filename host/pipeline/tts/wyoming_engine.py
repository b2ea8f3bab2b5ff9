"""Synthesis by a Wyoming text-to-speech server (wyoming-piper, Home Assistant's add-ons).

One connection per sentence: the reply is already split into sentences and each is synthesized while the one
before plays (host/bridge/speech_out.py), so that is where the streaming happens. A server whose `info` says
`supports_synthesize_streaming` is asked the streaming way (`synthesize-start`, `synthesize-chunk`, `synthesize`,
`synthesize-stop`, read until `synthesize-stopped`); others get one `synthesize` and answer until `audio-stop`.
Audio comes back at the voice's rate (22050 Hz for Piper's medium voices) and is resampled to 16 kHz with soxr.
"""

from __future__ import annotations

import asyncio

from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.tts import (Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped,
                         SynthesizeVoice)

from host.pipeline import remote
from host.pipeline.audio import resample
from host.pipeline.tts.base import TtsEngine

DOWN = "Sorry, the voice server isn't answering."


class WyomingTtsEngine(TtsEngine):
    name = "wyoming"

    def __init__(self, uri: str, voice: str = "", reply_timeout_s: float = remote.REPLY_TIMEOUT_S):
        super().__init__()
        self.uri = remote.check_uri(uri, "[tts] uri")
        self.voice = voice
        self.reply_timeout_s = reply_timeout_s
        self.server = ""
        self.streams_text = False  # the server's info says supports_synthesize_streaming
        self.answered = False  # after check(), until then: FIRST_REPLY_TIMEOUT_S (it may load its voice)

    @property
    def timeout_s(self) -> float:
        loading = self.server and not self.answered  # it described itself, and has not answered yet
        reply = max(self.reply_timeout_s, remote.FIRST_REPLY_TIMEOUT_S) if loading else self.reply_timeout_s
        return remote.CONNECT_TIMEOUT_S + reply

    def check(self) -> None:
        """Ask the server what it is (blocking). Raises RemoteEngineError."""
        program = remote.described_program(self.uri, remote.CONNECT_TIMEOUT_S + self.reply_timeout_s, "tts",
                                           "speech synthesis: point [tts] uri at a text-to-speech server", DOWN)
        self.server = f"{program.name} {program.version or ''}".strip()
        self.streams_text = bool(program.supports_synthesize_streaming)

    def _synthesize(self, text: str) -> bytes:
        """On the worker thread (blocking callers such as the warm-up)."""
        timeout = self.timeout_s
        audio = remote.call(self.request(text), self.uri, "audio", timeout)
        self.answered = True
        return audio

    async def synthesize_async(self, text: str) -> bytes:
        """On the caller's event loop: waiting for the server holds no thread and no other earbud."""
        self.sentences_spoken += 1
        timeout = self.timeout_s
        try:
            audio = await asyncio.wait_for(self.request(text), timeout)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 — every failure becomes one line
            raise remote.explain(error, self.uri, "audio", timeout) from None
        self.answered = True
        return audio

    async def request(self, text: str) -> bytes:
        """16 kHz mono PCM of the server saying `text`."""
        voice = SynthesizeVoice(name=self.voice) if self.voice else None
        async with remote.client(self.uri) as connection:
            if self.streams_text:
                await connection.write_event(SynthesizeStart(voice=voice).event())
                await connection.write_event(SynthesizeChunk(text=text).event())
                # The whole text again, for servers that only read `synthesize` (the protocol asks for it).
                await connection.write_event(Synthesize(text=text, voice=voice).event())
                await connection.write_event(SynthesizeStop().event())
            else:
                await connection.write_event(Synthesize(text=text, voice=voice).event())
            return await self._read_audio(connection)

    async def _read_audio(self, connection) -> bytes:
        converter = AudioChunkConverter(width=2, channels=1)
        parts: list[bytes] = []
        rate = 0
        while True:
            event = await remote.read_event(connection, "audio", self.uri)
            if AudioStart.is_type(event.type):
                rate = AudioStart.from_event(event).rate
            elif AudioChunk.is_type(event.type):
                chunk = converter.convert(AudioChunk.from_event(event))
                rate = chunk.rate
                parts.append(chunk.audio)
            elif SynthesizeStopped.is_type(event.type) or (AudioStop.is_type(event.type) and not self.streams_text):
                break
        return resample(b"".join(parts), rate) if parts else b""
