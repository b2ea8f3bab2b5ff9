"""Speaking: replies synthesized sentence by sentence and handed to the earbud's playback as soon as each is ready.

The playback (the `DownlinkPacer` in the bridge) is the one estimate of when the earbud has finished playing: the
session asks it, never counts itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from host.bridge.model_reply import ModelReply
from host.bridge.reports import TurnTimings
from host.companion.conversation.base import ConversationError
from host.pipeline.tts import TtsEngine, split_sentences

log = logging.getLogger(__name__)


class Playback(Protocol):
    """Where reply audio goes (16 kHz PCM). `DownlinkPacer` is the real one."""

    def play(self, pcm: bytes) -> None:
        """Queue audio of the reply in progress; returns at once."""

    def end_reply(self) -> None:
        """The reply is complete (one reply is one stream on the link)."""

    def stop(self) -> None:
        """Drop everything not yet played."""

    def played_out_ago(self) -> float:
        """Seconds since everything handed over finished playing (negative while audio is queued or playing)."""


class Voice:
    """One earbud's voice: speaks one reply at a time, sentence by sentence."""

    def __init__(self, tts: TtsEngine, playback: Playback, name: str = "earbud",
                 clock: Callable[[], float] = time.perf_counter):
        self.tts = tts
        self.playback = playback
        self.name = name
        self._clock = clock
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()

    @property
    def speaking(self) -> bool:
        """A reply is being synthesized or handed over, or is still playing on the earbud."""
        return bool(self._tasks) or self._lock.locked() or self.playback.played_out_ago() < 0

    def heard_recently(self, tail_s: float) -> bool:
        """Our own voice may still be in the mic: speaking, or stopped less than `tail_s` ago (its echo)."""
        return self.speaking or self.playback.played_out_ago() < tail_s

    def start(self, text: str, why: str) -> None:
        """Speak in the background (a timer ringing, a repeat)."""
        task = asyncio.get_running_loop().create_task(self.speak(text))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.debug("%s: speaking (%s)", self.name, why)

    async def speak(self, text: str, first_audio: bytes | None = None, timings: TurnTimings | None = None,
                    spoken_at: float = 0.0, more: ModelReply | None = None) -> str:
        """Synthesize sentence by sentence and hand each over as soon as it is ready (first audio leaves early);
        then the sentences `more` (a conversation model still writing) brings. Returns everything said.
        `timings` (with `spoken_at`, the wall time the user stopped) records when the first and last audio left."""
        sentences = split_sentences(text) or [text]
        said = list(sentences)
        async with self._lock:
            upcoming = None
            try:
                for index, sentence in enumerate(sentences):
                    if upcoming is not None:
                        pcm = await upcoming
                    elif index == 0 and first_audio is not None:
                        pcm = first_audio
                    else:
                        pcm = await self.tts.synthesize_async(sentence)
                    # Synthesize the next sentence while this one is handed over.
                    upcoming = (asyncio.ensure_future(self.tts.synthesize_async(sentences[index + 1]))
                                if index + 1 < len(sentences) else None)
                    self.playback.play(pcm)
                    if index == 0 and timings is not None:
                        timings.latency_s = self._clock() - spoken_at
                while more is not None and (sentence := await self._next(more)) is not None:
                    said.append(sentence)
                    self.playback.play(await self.tts.synthesize_async(sentence))
            finally:
                if upcoming is not None:
                    upcoming.cancel()
                if more is not None:
                    more.cancel()
            self.playback.end_reply()
            if timings is not None:
                timings.total_s = self._clock() - spoken_at
        return " ".join(said)

    async def _next(self, more: ModelReply) -> str | None:
        try:
            return await more.next_sentence()
        except ConversationError as error:  # the first sentences are out: end the reply there
            log.warning("%s: the conversation model stopped mid-reply: %s", self.name, error)
            return None

    async def stop(self) -> None:
        """Stop whatever is being said; the playback drops what it has not played."""
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.playback.stop()

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
