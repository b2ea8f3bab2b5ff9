"""A wake word held until verified (`[wake] verify`), before anything goes to Home Assistant.

The companion's turns wait for the session's wake verification (host/bridge/wake_check.py) before the wake cue; a
turn Home Assistant answers must too, or a false wake from the television would send the room to Home Assistant.
The audio after the detection is kept here (bounded) while the recognizer checks the phrase — the audio before it
is in the session's wake window — and goes to Home Assistant at once when the verdict is yes; on no, it is dropped
and nothing at all was sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from host.pipeline.messages import SAMPLE_RATE, WakeDetected

log = logging.getLogger(__name__)

MAX_HELD_S = 8.0  # a verdict slower than this (an overloaded machine): the turn is dropped, not the memory

Verify = Callable[[bytes, float], bool]  # (window, detection's offset into it in seconds) -> heard the phrase


class WakeGate:
    """One detection being verified: `hold` the mic's audio until `verdict` is known (None while checking)."""

    def __init__(self, wake: WakeDetected, before: bytes, after: bytes, after_s: float, verify: Verify):
        self.wake = wake
        self._before = before  # the window up to the detection (the session's wake window)
        self._verify = verify
        self._after_s = after_s  # audio after the detection the check needs
        self.held: list[bytes] = [after] if after else []  # everything after the detection, for Home Assistant
        self._held_bytes = len(after)
        self._check: asyncio.Task | None = None
        self.verdict: bool | None = None
        self.on_verdict: Callable[[WakeGate], None] = lambda gate: None
        self._maybe_check()

    def hold(self, pcm: bytes) -> None:
        self.held.append(pcm)
        self._held_bytes += len(pcm)
        if self._held_bytes > MAX_HELD_S * SAMPLE_RATE * 2 and self.verdict is None:
            log.warning("wake verification took over %.0f s: that wake word is dropped", MAX_HELD_S)
            self._decide(False)
        self._maybe_check()

    def _maybe_check(self) -> None:
        if self._check is not None or self._held_bytes < self._after_s * SAMPLE_RATE * 2:
            return
        window = self._before + b"".join(self.held)[: int(self._after_s * SAMPLE_RATE) * 2]
        detected_at_s = len(self._before) / 2 / SAMPLE_RATE
        self._check = asyncio.get_running_loop().create_task(asyncio.to_thread(self._verify, window, detected_at_s))
        self._check.add_done_callback(self._checked)

    def _checked(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        if task.exception() is not None:
            log.warning("wake verification failed (%s): the wake word counts", task.exception())
        self._decide(task.exception() is not None or bool(task.result()))

    def _decide(self, accepted: bool) -> None:
        if self.verdict is None:
            self.verdict = accepted
            self.on_verdict(self)

    def cancel(self) -> None:
        """Quiet, a pause, a disconnection: forget it (no verdict will be acted on)."""
        self.on_verdict = lambda gate: None
        if self._check is not None:
            self._check.cancel()
