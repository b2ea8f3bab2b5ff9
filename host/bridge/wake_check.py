"""A wake-word detection becomes a turn only once verified (`[wake] verify`; host/pipeline/wake_verify.py).

Latency: listening starts at the detection, as without verification, so nothing the wearer says is lost and the
turn is not held up: the check needs WINDOW_AFTER_S of audio after the detection plus about a tenth of a second,
while the endpointer is still waiting for the request to end. Only the wake cue waits for the verdict (about
1 s after the detection: 0.8 s of audio, then ~0.15 s of checking).
A rejected detection ends silently: no cue, no turn, and listening stops. A false wake from the television thus
passes unnoticed instead of a beep followed by nothing (the wake cue would otherwise be its only trace).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from host.pipeline.messages import WakeDetected
from host.pipeline.wake_verify import WINDOW_AFTER_S, WINDOW_BEFORE_S, WakeVerifier

log = logging.getLogger(__name__)

AUDIO_WAIT_S = 2.0  # wall seconds to wait for the audio after a detection (if it stops coming: check what is there)
_VERIFIERS: dict[tuple[int, str], WakeVerifier] = {}  # one per recognizer and wake word, shared by every session


def verifier_for(engines) -> WakeVerifier | None:
    """The shared verifier of these engines (None when `[wake] verify` is off)."""
    if not engines.config.wake.verify or engines.config.asr.language != "en":
        return None  # the wake phrases are English: a recognizer of another language cannot confirm them
    # A remote recognizer (Wyoming) answers in seconds at best: the local one standing by checks the wake word.
    asr = getattr(engines.asr, "local", None) or engines.asr
    key = (id(asr), engines.wake.name)
    if key not in _VERIFIERS:
        _VERIFIERS[key] = WakeVerifier(asr, engines.wake.name)
    return _VERIFIERS[key]


class WakeCheck:
    """One session's verification of its wake detections."""

    def __init__(self, engines, listening, send_cue: Callable[[], Awaitable[None]], stats: dict, name: str):
        self.verifier = verifier_for(engines)
        self.listening = listening
        self._send_cue = send_cue
        self.stats = stats
        self.name = name
        self._pending: asyncio.Task | None = None
        self.last_check_s: float | None = None  # how long the last verification took (logs, the bench)

    def begin(self, wake: WakeDetected) -> bool:
        """Start verifying `wake` (listening has started); False when verification is off: cue at once."""
        if self.verifier is None:
            return False
        # The window is asked for now, not when the task first runs: audio may come faster than real time.
        window = self.listening.wake_window
        wanted = window.want(wake.time_s - WINDOW_BEFORE_S, wake.time_s + WINDOW_AFTER_S)
        self._pending = asyncio.get_running_loop().create_task(self._check(wake, wanted, window.generation))
        return True

    def already_verified(self) -> None:
        """Listening starts for a wake word the recognizer itself heard (over a reply): its turn needs no check."""
        self._pending = None

    async def _check(self, wake: WakeDetected, wanted: asyncio.Future, generation: int) -> bool:
        window = self.listening.wake_window
        try:
            audio = await asyncio.wait_for(asyncio.shield(wanted), AUDIO_WAIT_S)
        except asyncio.CancelledError:
            if not wanted.cancelled():
                raise
            return False  # quiet began: the audio is gone, and so is the turn
        except asyncio.TimeoutError:  # the audio stopped coming: judge what there is
            audio = window.between(wake.time_s - WINDOW_BEFORE_S, wake.time_s + WINDOW_AFTER_S)
        if window.generation != generation:  # quiet began while the audio came in: it must not be recognized
            return False
        verdict = await asyncio.to_thread(self.verifier.verify, audio, WINDOW_BEFORE_S)
        del audio
        self.last_check_s = verdict.seconds
        if window.generation != generation:
            return False
        if verdict.accepted:
            if self.listening.wake_event is wake:  # not when listening already gave up (audio faster than real time)
                await self._send_cue()
            return True
        self.stats["wake_rejected"] += 1
        phrase = "n/a" if verdict.phrase_logprob is None else f"{verdict.phrase_logprob:.2f}"
        log.info("%s: wake word %s (score %.2f) rejected: the recognizer did not hear it (phrase log-probability %s, "
                 "%.0f ms)", self.name, wake.name, wake.score, phrase, 1000 * verdict.seconds)
        if self.listening.wake_event is wake and self.listening.listening:
            self.listening.cancel()
            self.listening.discard_speculation()
        return False

    async def then(self, utterance, run_turn: Callable[..., Awaitable[None]]) -> None:
        """Run the turn of `utterance` once its wake word is verified; nothing at all when it was rejected."""
        pending, self._pending = (self._pending if utterance.trigger == "wake" else None), None
        if pending is not None and not await asyncio.shield(pending):
            if utterance.speculation is not None:
                utterance.speculation.discard()
            return
        await run_turn(utterance)
