"""The reply as the earbud plays it, lined up with the mic's audio, so its echo can be cancelled on the uplink.

    DownlinkPacer ──frame_sent(frame, plays_at)──► PlayedAudio (what plays when, on the host's clock)
    earbud mic ──PCM──► EchoCancelledUplink.cancel ──(mic, reference)──► EchoCanceller ──► the session
                                                                           └─ linear output ──► `recent_linear`

The pacer knows when each frame it sends will play (its estimate of the earbud's buffer). `PlayedAudio` keeps the
decoded frames on that timeline, contiguous as the earbud plays them. The mic's audio reaches the bridge a little
after it was captured (the uplink's latency): `EchoCancelledUplink` reads the reference for each chunk at the
chunk's arrival time on the least-delayed arrival seen, plus a fixed lead, so the reference always comes before
its echo (AEC3 then finds the delay itself, up to ~500 ms). While nothing has played for a while the mic's audio passes untouched.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from host.pipeline.echo_cancel import EchoCanceller
from host.pipeline.messages import SAMPLE_RATE
from protocol.audio import decode_frame

log = logging.getLogger(__name__)

KEEP_S = 3.0  # played audio kept for reading: more than the uplink's latency plus AEC3's delay range
GAP_S = 0.04  # a frame estimated to start this much after the last one ends: the earbud ran dry between
GAP_RESET_S = 1.0  # a frame this long after the last one starts a new timeline (nothing played in between)
ECHO_AFTER_S = 0.8  # the mic's audio is cancelled until this long after the last reply audio played
# The reference is read this much ahead of the mic's audio: measured in the simulator, the echo otherwise came
# 3-30 ms after its reference, at times before it (the pacer's estimate is late by about the uplink's latency), and
# AEC3 cannot cancel an echo that comes before its reference. With this lead it comes 0.2-0.25 s after, well
# inside AEC3's 0-0.5 s.
LEAD_S = 0.2
RESYNC_S = 0.5  # mic audio arriving this much later than the timeline expects: audio was lost, line up again
# A chunk arriving this much earlier than the timeline says moves the timeline (less: jitter, which the lead covers;
# every move is a jump AEC3 must follow).
EARLIER_S = 0.03
LINEAR_KEPT_CHUNKS = 150  # of the linear canceller's output (3 s of 20 ms chunks): for `recent_linear`


class PlayedAudio:
    """What the earbud's speaker plays, on the host's monotonic clock (16 kHz int16)."""

    def __init__(self) -> None:
        self._start: float | None = None  # when _pcm[0] plays
        self._pcm = np.zeros(0, dtype=np.int16)

    @property
    def end(self) -> float:
        """When the last sample handed over stops playing (-inf: nothing ever played)."""
        return float("-inf") if self._start is None else self._start + len(self._pcm) / SAMPLE_RATE

    def frame_sent(self, frame: bytes, plays_at: float) -> None:
        """The pacer sent an audio frame that starts playing at `plays_at` by its estimate."""
        pcm = np.frombuffer(decode_frame(frame).pcm(), dtype="<i2")
        end = self.end
        if self._start is None or plays_at - end > GAP_RESET_S:
            self._start, self._pcm = plays_at, pcm.copy()
            return
        if plays_at - end > GAP_S:  # the earbud ran dry (a pause between sentences or replies): silence between
            self._pcm = np.concatenate([self._pcm, np.zeros(round((plays_at - end) * SAMPLE_RATE), np.int16)])
        # Otherwise the earbud plays it right after the previous frame, whatever the estimate says.
        self._pcm = np.concatenate([self._pcm, pcm])
        self._trim(plays_at - KEEP_S)

    def stopped(self, at: float) -> None:
        """Playback was stopped at `at`: nothing after it plays."""
        if self._start is not None and at < self.end:
            self._pcm = self._pcm[: max(0, round((at - self._start) * SAMPLE_RATE))]

    def read(self, start: float, n_samples: int) -> np.ndarray:
        """The `n_samples` that play from `start` on (silence where nothing plays)."""
        out = np.zeros(n_samples, dtype=np.int16)
        if self._start is None:
            return out
        offset = round((start - self._start) * SAMPLE_RATE)
        lo, hi = max(0, offset), min(len(self._pcm), offset + n_samples)
        if hi > lo:
            out[lo - offset: hi - offset] = self._pcm[lo:hi]
        return out

    def _trim(self, before: float) -> None:
        drop = round((before - self._start) * SAMPLE_RATE)
        if drop > 0:
            self._pcm = self._pcm[drop:]
            self._start += drop / SAMPLE_RATE


class EchoCancelledUplink:
    """The mic's audio with the reply's echo removed; `played` is fed by the pacer (its `observer`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.played = PlayedAudio()
        self.canceller = EchoCanceller()
        self._clock = clock
        self._anchor: float | None = None  # capture time of mic sample 0, by the fastest arrival seen
        self._samples = 0  # mic samples since the anchor
        # The mic's last seconds with only the linear canceller's echo estimate taken out (as they came, when nothing
        # played), each chunk as long as the one `cancel` returned for it.
        self._linear: deque[bytes] = deque(maxlen=LINEAR_KEPT_CHUNKS)
        self.stats = {"cancelled_chunks": 0, "passed_chunks": 0, "resyncs": 0, "lined_up_earlier": 0}

    # The pacer's observer interface.
    def frame_sent(self, frame: bytes, plays_at: float) -> None:
        self.played.frame_sent(frame, plays_at)

    def stopped(self, at: float) -> None:
        self.played.stopped(at)

    def cancel(self, pcm: bytes) -> bytes:
        """One chunk of the mic's audio as it arrives (16 kHz int16): its echo-free version."""
        n = len(pcm) // 2
        now = self._clock()
        start = self._line_up(now, n) + LEAD_S
        if start > self.played.end + ECHO_AFTER_S:
            self.stats["passed_chunks"] += 1
            self._linear.append(pcm)
            return pcm
        self.stats["cancelled_chunks"] += 1
        cancelled, linear = self.canceller.process_both(pcm, self.played.read(start, n).astype("<i2").tobytes())
        self._linear.append(linear)
        return cancelled

    def echo_return_loss_db(self, linear: bool = False) -> float | None:
        return self.canceller.echo_return_loss_db(linear)

    def learning(self) -> bool:
        """Whether the cancellers are still learning the room (the first seconds of reply audio ever heard)."""
        return self.canceller.learning

    def recent_linear(self, n_bytes: int) -> bytes:
        """The last `n_bytes` the uplink returned, as the linear canceller alone left them: while the wearer talks
        over the reply AEC3 also dents their voice; here it is whole, under what is left of the echo (the wake word
        and the stop-word recognizer hear this; bench/bench_barge_in.py)."""
        out: list[bytes] = []
        total = 0
        for chunk in reversed(self._linear):
            if total >= n_bytes:
                break
            out.append(chunk)
            total += len(chunk)
        return b"".join(reversed(out))[-n_bytes:]

    def _line_up(self, now: float, n: int) -> float:
        """When this chunk's first sample was captured, on the played timeline: the arrival time less the chunk's
        length, on the earliest arrival seen (later arrivals were held up on the way)."""
        arrival_start = now - n / SAMPLE_RATE
        expected = None if self._anchor is None else self._anchor + self._samples / SAMPLE_RATE
        if expected is None or arrival_start < expected - EARLIER_S or arrival_start - expected > RESYNC_S:
            if expected is not None:
                self.stats["resyncs" if arrival_start > expected else "lined_up_earlier"] += 1
            self._anchor, self._samples = arrival_start, 0
            expected = arrival_start
        self._samples += n
        return expected
