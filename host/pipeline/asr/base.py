"""The one interface every speech recognizer offers the session."""

from __future__ import annotations

from abc import ABC, abstractmethod


class AsrStream(ABC):
    """One utterance fed incrementally (streaming engines give partial results as it goes)."""

    @abstractmethod
    def accept(self, pcm: bytes) -> str | None:
        """Add 16 kHz PCM; returns the current partial text when the engine has one."""

    @abstractmethod
    def finish(self) -> str:
        """The final text of everything accepted. May take a while: call it off the event loop."""


class AsrEngine(ABC):
    """A loaded recognizer, shared by every earbud (each utterance gets its own stream or call)."""

    name: str = ""
    streaming: bool = False
    """True: feed audio as it arrives through `open_stream`; False: `transcribe` the whole utterance."""
    speculative: bool = False
    """True: worth transcribing during the endpoint hangover (the result is reused if speech does not resume)."""

    def __init__(self) -> None:
        self.runs = 0  # utterances recognized: lets tests prove that no recognition ran

    @abstractmethod
    def transcribe(self, pcm: bytes) -> str:
        """Text of one whole utterance (16 kHz 16-bit mono). Blocking."""

    def open_stream(self) -> AsrStream:
        """A stream for one utterance; engines that cannot stream buffer and transcribe at the end."""
        return BufferedStream(self)


class BufferedStream(AsrStream):
    def __init__(self, engine: AsrEngine):
        self._engine = engine
        self._audio = bytearray()

    def accept(self, pcm: bytes) -> str | None:
        self._audio += pcm
        return None

    def finish(self) -> str:
        return self._engine.transcribe(bytes(self._audio))
