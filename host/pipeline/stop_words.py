"""Stop words: "stop", "never mind", "be quiet" said over a reply stop it; "uh-huh" and "okay" do not.

While a reply plays the session feeds `StopWords.hear` the echo-cancelled mic audio. A VAD (webrtcvad) cuts it
into short voiced stretches; each stretch that ends within `MAX_SEGMENT_S` is recognized by the recognizer already
loaded (Moonshine: a short stretch is an encoder pass and a few decoder steps), and `is_stop_command` decides
whether it was a stop command. Longer stretches (the wearer talking to someone, or residual echo) are not
commands and are not recognized at all. Nothing heard is kept or logged.

Two versions of the same audio: the VAD hears AEC3's output (nearly no echo left, so a voiced stretch is the
wearer), the recognizer first the linear canceller's (`linear_audio`: the wearer's voice whole, which AEC3 dents,
under a little echo), then, if that was no stop command, AEC3's.

The wake word too: what is left of the echo can hide it from openWakeWord while the recognizer still hears it (a
bench run: scored 0.02, transcribed "Hey Jarvis, what time is it?"). With `wake_said` set, a stretch that is no stop
command but holds the wake phrase (the wake-word check's own test, host/pipeline/wake_verify.py) calls `on_wake`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable

import numpy as np
import webrtcvad

from host.pipeline.messages import SAMPLE_RATE

log = logging.getLogger(__name__)

STOP_PHRASES = frozenset({"stop", "stop it", "stop talking", "stop that", "never mind", "nevermind", "quiet",
                          "be quiet", "cancel", "enough", "that's enough", "shut up",
                          "never minds", "never minded"})  # how the recognizer heard "never mind" over a reply
# Said around a command without changing it ("okay, stop", "stop please"); alone they are backchannels.
FILLERS = frozenset({"okay", "ok", "please", "oh", "um", "uh", "hey", "jarvis", "just", "now", "alright", "no"})

FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2
START_FRAMES = 3  # voiced frames in a row that start a stretch
END_FRAMES = 5  # unvoiced frames in a row that end it (100 ms: a stop word is said, then the speaker waits)
PRE_ROLL_FRAMES = 5  # kept from before the start, so the first consonant is not cut
# The linear canceller's version starts this much earlier still: AEC3 dents the voice's onset, so its VAD starts late.
LINEAR_EARLIER_FRAMES = 5
MIN_SEGMENT_S = 0.15
MAX_SEGMENT_S = 1.5  # "never mind, please" fits; a sentence does not
QUIET_PEAK = 330  # a frame whose loudest sample stays under -40 dBFS is silence whatever the VAD says


def is_stop_command(text: str) -> bool:
    """Whether a transcript is a stop command (a stop phrase, maybe with fillers around it). On a short stretch the
    recognizer sometimes repeats what it heard ("Stop. Stop.", "Never mind. Never mi"): repeats, whole or cut off,
    count as the phrase once."""
    words = [w for w in re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " ")).split() if w not in FILLERS]
    return any(_repeats(words, phrase.split()) for phrase in STOP_PHRASES)


def _repeats(words: list[str], phrase: list[str]) -> bool:
    """`words` is `phrase` once or more, the last time maybe cut off (in the middle of a word too)."""
    if len(words) < len(phrase):
        return False
    expected = (phrase * (len(words) // len(phrase) + 1))[: len(words)]
    return words[:-1] == expected[:-1] and expected[-1].startswith(words[-1])


class StopWords:
    """Feed the echo-cancelled mic audio during a reply with `hear`; `on_stop(text)` is awaited on a stop command."""

    def __init__(self, transcribe: Callable[[bytes], str], on_stop: Callable[[str], Awaitable[None]],
                 aggressiveness: int = 3):
        self._transcribe = transcribe
        self._on_stop = on_stop
        self._vad = webrtcvad.Vad(aggressiveness)
        self._pending = b""
        self._history: deque[bytes] = deque(maxlen=PRE_ROLL_FRAMES)
        self._stretch: list[bytes] | None = None  # the voiced stretch being heard
        self._voiced_run = self._silent_run = 0
        self._task: asyncio.Task | None = None
        self._waiting: tuple[bytes, bytes | None] | None = None  # the latest stretch heard meanwhile
        # The mic's audio with only the linear canceller applied, if the uplink keeps it (n_bytes -> the last
        # n_bytes, aligned with what `hear` was given): for the recognizer and the wake word (`voice_whole`). Not
        # the raw audio: there the recognizer heard the reply's echo ("And on your own computer.") over the wearer.
        self.linear_audio: Callable[[int], bytes] | None = None
        # (stretch, its transcript) -> whether it holds the wake phrase; blocking. And what to do when it does.
        self.wake_said: Callable[[bytes, str], bool] | None = None
        self.on_wake: Callable[[], Awaitable[None]] | None = None
        self.stats = {"stretches": 0, "recognized": 0, "too_long": 0, "stops": 0,
                      "stops_in_linear": 0, "wakes": 0}

    def reset(self) -> None:
        """Forget the audio heard so far (the reply ended, or quiet began)."""
        self._pending, self._stretch, self._waiting = b"", None, None
        self._history.clear()
        self._voiced_run = self._silent_run = 0

    def hear(self, pcm: bytes) -> None:
        self._pending += pcm
        while len(self._pending) >= FRAME_BYTES:
            frame, self._pending = self._pending[:FRAME_BYTES], self._pending[FRAME_BYTES:]
            self._frame(frame)

    def _frame(self, frame: bytes) -> None:
        voiced = _peak(frame) >= QUIET_PEAK and self._vad.is_speech(frame, SAMPLE_RATE)
        if self._stretch is None:
            self._history.append(frame)
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= START_FRAMES:
                self._stretch, self._silent_run = list(self._history), 0
                self._history.clear()
            return
        if len(self._stretch) * FRAME_MS / 1000 <= MAX_SEGMENT_S + 0.2:  # beyond, it only has to end
            self._stretch.append(frame)
        self._silent_run = 0 if voiced else self._silent_run + 1
        if self._silent_run < END_FRAMES:
            return
        stretch, self._stretch, self._voiced_run = self._stretch, None, 0
        seconds = len(stretch) * FRAME_MS / 1000
        self.stats["stretches"] += 1
        if seconds > MAX_SEGMENT_S:
            self.stats["too_long"] += 1
        elif seconds >= MIN_SEGMENT_S:
            audio = (b"".join(stretch), self._linear_span((len(stretch) + LINEAR_EARLIER_FRAMES) * FRAME_BYTES))
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._recognize(audio))
            else:  # one recognition at a time; the newest stretch waits (older waiting ones are dropped)
                self._waiting = audio

    def _linear_span(self, n_bytes: int) -> bytes | None:
        """The linear canceller's last `n_bytes` before the frames still pending (the stretch that just ended and
        a little before it), if the uplink keeps them."""
        if self.linear_audio is None:
            return None
        span = self.linear_audio(n_bytes + len(self._pending))
        span = span[: len(span) - len(self._pending)]
        return span if len(span) == n_bytes else None

    async def _recognize(self, audio: tuple[bytes, bytes | None] | None) -> None:
        while audio is not None:
            cancelled, linear = audio
            for version in (linear, cancelled):
                if version is None:
                    continue
                text = await self._text(version)
                if is_stop_command(text):
                    self.stats["stops"] += 1
                    self.stats["stops_in_linear"] += version is linear
                    self._waiting = None
                    await self._on_stop(text)
                    return
                if version is (linear or cancelled) and await self._wake_in(version, text):  # the first version
                    self.stats["wakes"] += 1
                    self._waiting = None
                    await self.on_wake()
                    return
            audio, self._waiting = self._waiting, None

    async def _wake_in(self, audio: bytes, text: str) -> bool:
        if self.wake_said is None or self.on_wake is None:
            return False
        try:
            return await asyncio.to_thread(self.wake_said, audio, text)
        except Exception:  # noqa: BLE001 — a failed check is a missed wake word, not a broken session
            log.warning("wake-word check of a stretch failed", exc_info=True)
            return False

    async def _text(self, audio: bytes) -> str:
        self.stats["recognized"] += 1
        try:
            return await asyncio.to_thread(self._transcribe, audio)
        except Exception:  # noqa: BLE001 — a failed recognition is a missed stop word, not a broken session
            log.warning("stop-word recognition failed", exc_info=True)
            return ""

    def voice_whole(self, pcm: bytes) -> bytes:
        """`pcm` (the chunk just heard) as the linear canceller alone left it, when the uplink keeps that: the wake
        word over a reply is heard better there too (AEC3 dents the wearer's voice during double talk)."""
        whole = self.linear_audio(len(pcm)) if self.linear_audio is not None else b""
        return whole if len(whole) == len(pcm) else pcm

    def pending(self) -> list[asyncio.Task]:
        return [self._task] if self._task is not None and not self._task.done() else []


def _peak(frame: bytes) -> int:
    return int(np.abs(np.frombuffer(frame, dtype="<i2")).max())
