"""Recognition by a Wyoming speech-to-text server (wyoming-faster-whisper, Home Assistant's add-ons, a GPU box).

One connection per utterance, as Home Assistant does: `transcribe`, `audio-start`, the audio in chunks,
`audio-stop`, then the server's `transcript`. A server that streams its text (`transcript-start`,
`transcript-chunk`…, `transcript-stop`; its `info` says `supports_transcript_streaming`) is read the same way: the
chunks are joined, and the final `transcript`, when it comes, wins. The audio is the whole utterance: Earpiece's
own endpointing decides when a request ends, and recognizing during the endpoint hangover (`speculative`) hides
the network hop the way it hides the local engines' decoding.
"""

from __future__ import annotations

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop

from host.pipeline import remote
from host.pipeline.asr.base import AsrEngine
from host.pipeline.messages import SAMPLE_RATE

CHUNK_BYTES = 2 * SAMPLE_RATE // 10  # 100 ms of audio an event, as satellites send it
AUDIO_FORMAT = {"rate": SAMPLE_RATE, "width": 2, "channels": 1}


class WyomingAsrEngine(AsrEngine):
    name = "wyoming"
    streaming = False
    speculative = True

    def __init__(self, uri: str, language: str = "en", reply_timeout_s: float = remote.REPLY_TIMEOUT_S):
        super().__init__()
        self.uri = remote.check_uri(uri, "[asr] uri")
        self.language = language
        self.reply_timeout_s = reply_timeout_s
        self.server = ""  # what the server said it runs (`info`), once it answered
        self.streams_text = False
        self.answered = False  # after check(), until then: FIRST_REPLY_TIMEOUT_S (it may be loading)

    def timeout_s(self, pcm: bytes) -> float:
        """The whole exchange's deadline: connecting, sending the audio, the server's answer."""
        loading = self.server and not self.answered  # it described itself, and has not answered yet
        reply = max(self.reply_timeout_s, remote.FIRST_REPLY_TIMEOUT_S) if loading else self.reply_timeout_s
        return remote.CONNECT_TIMEOUT_S + reply + len(pcm) / (2 * SAMPLE_RATE) * 0.1

    def check(self) -> None:
        """Ask the server what it is (blocking, off the event loop). Raises RemoteEngineError."""
        program = remote.described_program(self.uri, remote.CONNECT_TIMEOUT_S + self.reply_timeout_s, "asr",
                                           "speech recognition: point [asr] uri at a speech-to-text server")
        self.server = f"{program.name} {program.version or ''}".strip()
        self.streams_text = bool(program.supports_transcript_streaming)

    def transcribe(self, pcm: bytes) -> str:
        """Blocking: call it off the event loop. Raises RemoteEngineError (down, slow, error)."""
        self.runs += 1
        timeout = self.timeout_s(pcm)
        text = remote.call(self.transcribe_async(pcm), self.uri, "transcript", timeout)
        self.answered = True
        return text

    async def transcribe_async(self, pcm: bytes) -> str:
        async with remote.client(self.uri) as connection:
            await connection.write_event(Transcribe(language=self.language or None).event())
            await connection.write_event(AudioStart(**AUDIO_FORMAT).event())
            for offset in range(0, len(pcm), CHUNK_BYTES):
                await connection.write_event(AudioChunk(audio=pcm[offset: offset + CHUNK_BYTES],
                                                        **AUDIO_FORMAT).event())
            await connection.write_event(AudioStop().event())
            return await self._read_transcript(connection)

    async def _read_transcript(self, connection) -> str:
        chunks: list[str] = []
        streaming = False
        while True:
            event = await remote.read_event(connection, "a transcript", self.uri)
            if Transcript.is_type(event.type):
                return Transcript.from_event(event).text.strip()
            if TranscriptStart.is_type(event.type):
                streaming = True
            elif TranscriptChunk.is_type(event.type):
                chunks.append(TranscriptChunk.from_event(event).text)
            elif TranscriptStop.is_type(event.type) and streaming:
                return "".join(chunks).strip()
