"""The one interface every speech synthesizer offers the session."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor

from host.errors import EarpieceError


class TtsError(EarpieceError):
    """A voice that cannot be used (not installed, unknown voice); the message says what to do."""


class TtsEngine(ABC):
    """Text -> 16 kHz 16-bit mono PCM. All synthesis runs on the engine's worker thread: it is blocking, and the
    common engines (espeak-ng through pyttsx3) must only ever be used from the thread that created them."""

    name: str = ""

    def __init__(self, worker: ThreadPoolExecutor | None = None) -> None:
        self._own_worker = worker is None
        self._worker = worker or ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tts-{self.name}")
        self.sentences_spoken = 0

    @abstractmethod
    def _synthesize(self, text: str) -> bytes:
        """Synthesis of one sentence at 16 kHz; called on the worker thread only."""

    def synthesize(self, text: str) -> bytes:
        """Blocking synthesis of one sentence, already resampled to 16 kHz."""
        return self._worker.submit(self._counted, text).result()

    async def synthesize_async(self, text: str) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._counted, text)

    def _counted(self, text: str) -> bytes:
        self.sentences_spoken += 1
        return self._synthesize(text)

    def close(self) -> None:
        if self._own_worker:
            self._worker.shutdown(wait=False, cancel_futures=True)
