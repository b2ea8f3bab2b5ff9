"""A remote recognizer with the local one standing by: the server's failure costs one spoken notice, not the turn.

When the Wyoming server fails (down, slower than its deadline, an error), the utterance is recognized by the local
engine at once (when one is installed), the failure is logged in one line, and the next turn that is answered
begins with a short spoken notice (`notice`, until a committed turn said it). Later utterances go straight to the
local engine while the server is asked again in the background every `RETRY_AFTER_S`: no user's turn waits for a
dead server twice.
Without a local engine every failure raises RemoteEngineError and the turn says so.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import replace

from host.assistant.reply import Reply
from host.pipeline import remote
from host.pipeline.asr.base import AsrEngine
from host.pipeline.asr.wyoming_engine import WyomingAsrEngine

log = logging.getLogger(__name__)

NOTICE = "The speech server isn't answering, so I'm listening myself for now."
DOWN = "Sorry, the speech server isn't answering."


class FallbackAsrEngine(AsrEngine):
    streaming = False
    speculative = True

    def __init__(self, remote_engine: WyomingAsrEngine, local: AsrEngine | None,
                 retry_after_s: float = remote.RETRY_AFTER_S, clock=time.monotonic):
        super().__init__()
        self.remote = remote_engine
        self.local = local
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._probing = False
        self._notice = False
        self.failures = 0  # utterances the server failed (tests and the bench read it)
        self.name = f"wyoming ({local.name} standing by)" if local else "wyoming"

    @property
    def remote_up(self) -> bool:
        return self._down_since is None

    def start(self) -> None:
        """Check the server once at start: down, it is logged and the local engine answers until it is back.
        Raises RemoteEngineError when it is down and there is no local engine."""
        try:
            self.remote.check()
            log.info("speech recognition: %s at %s", self.remote.server or "Wyoming server", self.remote.uri)
        except remote.RemoteEngineError as error:
            if self.local is None:
                raise remote.RemoteEngineError(f"{error} (no local recognizer is installed to stand in: "
                                               "`earpiece models install`)") from None
            log.warning("speech recognition: %s; %s answers until it is back", error, self.local.name)
            self._went_down(notice=False)

    def transcribe(self, pcm: bytes) -> str:
        self.runs += 1
        if self.remote_up or self.local is None:
            try:
                text = self.remote.transcribe(pcm)
            except remote.RemoteEngineError as error:
                self.failures += 1
                if self.local is None:
                    raise remote.RemoteEngineError(str(error), DOWN) from None
                if self._went_down(notice=True):  # one line per outage, however many earbuds were waiting
                    log.warning("speech recognition: %s; %s answers until it is back", error, self.local.name)
            else:
                if not self.remote_up:
                    self._came_back()
                return text
        self._maybe_probe()
        return self.local.transcribe(pcm)

    @property
    def notice(self) -> str:
        """The sentence to say before the next answer after the server failed ("" when there is none). It stays
        until a committed turn said it (`notice_said`): a speculative answer that is thrown away does not count."""
        return NOTICE if self._notice else ""

    def notice_said(self, reply: Reply) -> None:
        if self._notice and reply.text.startswith(NOTICE):
            with self._lock:
                self._notice = False

    def _went_down(self, notice: bool) -> bool:
        """Mark the server down; True when it was up until now."""
        with self._lock:
            if self._down_since is not None:
                return False
            self._down_since = self._clock()
            self._notice = self._notice or notice
            return True

    def _came_back(self) -> None:
        with self._lock:
            self._down_since = None
            self._probing = False
        log.info("speech recognition: the Wyoming server at %s is back", self.remote.uri)

    def _maybe_probe(self) -> None:
        """Ask the server in the background whether it is back (at most every retry_after_s)."""
        with self._lock:
            if self._probing or self._down_since is None or self._clock() - self._down_since < self.retry_after_s:
                return
            self._probing = True
        remote.loop_thread().submit(self._probe())

    async def _probe(self) -> None:
        try:
            await asyncio.wait_for(remote.describe(self.remote.uri),
                                   remote.CONNECT_TIMEOUT_S + self.remote.reply_timeout_s)
        except Exception:  # noqa: BLE001 — still down: try again after another retry_after_s
            with self._lock:
                self._probing = False
                if self._down_since is not None:
                    self._down_since = self._clock()
            return
        self._came_back()


def pending_notice(engine: AsrEngine) -> str:
    """The failure notice a recognizer has for the next answer ("" for the local engines)."""
    return getattr(engine, "notice", "")


def notice_said(engine: AsrEngine, reply: Reply) -> None:
    """A committed turn's reply: if it says the notice, the notice is delivered."""
    said = getattr(engine, "notice_said", None)
    if said is not None:
        said(reply)


def with_notice(reply: Reply, notice: str, heard: str) -> Reply:
    """The reply with the notice said first; nothing heard: the notice alone."""
    if not notice:
        return reply
    if not heard.strip():
        return Reply(notice, skill="fallback", remember=False)
    return replace(reply, text=f"{notice} {reply.text}")
