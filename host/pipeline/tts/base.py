"""The one interface every speech synthesizer offers the session."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor


class TtsEngine(ABC):
    """Text -> 16 kHz 16-bit mono PCM. Engines run on one worker thread of their own: synthesis is blocking,
    and the common engines (espeak-ng through pyttsx3) are not safe to call from two threads at once."""

    name: str = ""

    def __init__(self) -> None:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tts-{self.name}")
        self.sentences_spoken = 0

    @abstractmethod
    def synthesize(self, text: str) -> bytes:
        """Blocking synthesis of one sentence, already resampled to 16 kHz."""

    async def synthesize_async(self, text: str) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._counted, text)

    def _counted(self, text: str) -> bytes:
        self.sentences_spoken += 1
        return self.synthesize(text)

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
