"""Stop words: "stop", "never mind", "be quiet" said over a reply stop it; "uh-huh" and "okay" do not.

While a reply plays the session feeds `StopWords.hear` the echo-cancelled mic audio. A VAD (webrtcvad) cuts it
into short voiced stretches; each stretch that ends within `MAX_SEGMENT_S` is recognized by the recognizer already
loaded (Moonshine: a short stretch is an encoder pass and a few decoder steps), and `is_stop_command` decides
whether it was a stop command. Longer stretches (the wearer talking to someone, or residual echo) are not
commands and are not recognized at all. Nothing heard is kept or logged.
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
                          "be quiet", "cancel", "enough", "that's enough", "shut up"})
# Said around a command without changing it ("okay, stop", "stop please"); alone they are backchannels.
FILLERS = frozenset({"okay", "ok", "please", "oh", "um", "uh", "hey", "jarvis", "just", "now", "alright", "no"})

FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2
START_FRAMES = 3  # voiced frames in a row that start a stretch
END_FRAMES = 5  # unvoiced frames in a row that end it (100 ms: a stop word is said, then the speaker waits)
PRE_ROLL_FRAMES = 5  # kept from before the start, so the first consonant is not cut
MIN_SEGMENT_S = 0.15
MAX_SEGMENT_S = 1.5  # "never mind, please" fits; a sentence does not
QUIET_PEAK = 330  # a frame whose loudest sample stays under -40 dBFS is silence whatever the VAD says


def is_stop_command(text: str) -> bool:
    """Whether a transcript is a stop command (a stop phrase, maybe with fillers around it)."""
    words = [w for w in re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " ")).split() if w not in FILLERS]
    return bool(words) and " ".join(words) in STOP_PHRASES


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
        self._waiting: bytes | None = None  # the latest stretch heard while another was being recognized
        # The mic's audio before echo cancelling, if the uplink keeps it (n_bytes -> the last n_bytes): for the wake
        # word (`uncancelled`). Stop words are recognized in the cancelled audio: in the raw audio the recognizer
        # heard the reply's echo instead ("And on your own computer.") more often than the wearer.
        self.raw_audio: Callable[[int], bytes] | None = None
        self.stats = {"stretches": 0, "recognized": 0, "too_long": 0, "stops": 0}

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
            audio = b"".join(stretch)
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._recognize(audio))
            else:  # one recognition at a time; the newest stretch waits (older waiting ones are dropped)
                self._waiting = audio

    async def _recognize(self, audio: bytes | None) -> None:
        while audio is not None:
            self.stats["recognized"] += 1
            try:
                text = await asyncio.to_thread(self._transcribe, audio)
            except Exception:  # noqa: BLE001 — a failed recognition is a missed stop word, not a broken session
                log.warning("stop-word recognition failed", exc_info=True)
                text = ""
            if is_stop_command(text):
                self.stats["stops"] += 1
                self._waiting = None
                await self._on_stop(text)
                return
            audio, self._waiting = self._waiting, None

    def uncancelled(self, pcm: bytes) -> bytes:
        """`pcm` (the chunk just heard) as it was before echo cancelling, when the uplink keeps that: the wake word
        over a reply is heard better there too (AEC3 dents the wearer's voice during double talk)."""
        raw = self.raw_audio(len(pcm)) if self.raw_audio is not None else b""
        return raw if len(raw) == len(pcm) else pcm

    def pending(self) -> list[asyncio.Task]:
        return [self._task] if self._task is not None and not self._task.done() else []


def _peak(frame: bytes) -> int:
    return int(np.abs(np.frombuffer(frame, dtype="<i2")).max())
