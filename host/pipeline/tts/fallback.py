"""A remote voice with espeak-ng standing by: when the Wyoming server fails, the sentence is spoken locally at once.

The first sentence after a failure begins with a short notice in the local voice, the failure is logged in one
line, and later sentences go straight to the local voice while the server is asked again in the background every
`RETRY_AFTER_S`. Without a local voice a failure raises RemoteEngineError (the turn fails with the error cue).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from host.pipeline import remote
from host.pipeline.tts.base import TtsEngine
from host.pipeline.tts.wyoming_engine import WyomingTtsEngine

log = logging.getLogger(__name__)

NOTICE = "My voice server isn't answering, so here is my own voice."


class FallbackTtsEngine(TtsEngine):
    def __init__(self, remote_engine: WyomingTtsEngine, local: TtsEngine | None,
                 retry_after_s: float = remote.RETRY_AFTER_S, clock=time.monotonic):
        self.name = f"wyoming ({local.name} standing by)" if local else "wyoming"
        super().__init__()
        self.remote = remote_engine
        self.local = local
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._down_since: float | None = None
        self._probe: asyncio.Future | None = None
        self._lock = threading.Lock()
        self.failures = 0

    @property
    def remote_up(self) -> bool:
        return self._down_since is None

    def start(self) -> None:
        """Check the server once at start (down: logged, and the local voice speaks until it is back)."""
        try:
            self.remote.check()
            log.info("speech synthesis: %s at %s", self.remote.server or "Wyoming server", self.remote.uri)
        except remote.RemoteEngineError as error:
            if self.local is None:
                raise
            log.warning("speech synthesis: %s; %s speaks until it is back", error, self.local.name)
            self._down_since = self._clock()

    def _synthesize(self, text: str) -> bytes:
        if self.remote_up or self.local is None:
            try:
                return self.remote.synthesize(text)
            except remote.RemoteEngineError as error:
                return self._failed(error, text)
        self._maybe_probe()
        return self.local.synthesize(text)

    async def synthesize_async(self, text: str) -> bytes:
        self.sentences_spoken += 1
        if self.remote_up or self.local is None:
            try:
                return await self.remote.synthesize_async(text)
            except remote.RemoteEngineError as error:
                return await asyncio.to_thread(self._failed, error, text)
        self._maybe_probe()
        return await self.local.synthesize_async(text)

    def _failed(self, error: remote.RemoteEngineError, text: str) -> bytes:
        """Blocking (the local voice): the notice once per outage, then the sentence."""
        self.failures += 1
        if self.local is None:
            raise error
        with self._lock:  # one notice and one log line per outage, however many sentences were waiting
            first = self.remote_up
            if first:
                self._down_since = self._clock()
        if first:
            log.warning("speech synthesis: %s; %s speaks until it is back", error, self.local.name)
        return self.local.synthesize(f"{NOTICE} {text}" if first else text)

    def _maybe_probe(self) -> None:
        if self._down_since is None or self._clock() - self._down_since < self.retry_after_s:
            return
        if self._probe is not None and not self._probe.done():
            return
        self._probe = remote.loop_thread().submit(self._ask())

    async def _ask(self) -> None:
        try:
            await asyncio.wait_for(remote.describe(self.remote.uri), self.remote.timeout_s)
        except Exception:  # noqa: BLE001 — still down: ask again after another retry_after_s
            self._down_since = self._clock()
            return
        self._down_since = None
        log.info("speech synthesis: the Wyoming server at %s is back", self.remote.uri)

    def close(self) -> None:
        self.remote.close()
        if self.local is not None:
            self.local.close()
        super().close()
