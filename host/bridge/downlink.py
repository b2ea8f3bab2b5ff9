"""Reply audio to the earbud, paced against its speaker buffer.

The earbud plays what it receives in real time from a small jitter buffer. Send too fast and the buffer overflows
(audio lost); too slow and it underruns (a gap mid-sentence). So the pacer keeps an estimate of how many
milliseconds the earbud holds — corrected by every SPEAKER report the earbud sends — and tops it up to a target
level, never past it. The first frames of a reply go out at once (up to the target), so first audio is early.

A reply that reaches the earbud while one of its cues sounds waits for the cue (protocol/cues.py): the session says
when it sends a cue (`cue_sent`), and a reply that starts then is estimated to play, and its buffer to drain, only
once the cue is over. `observer` (the echo canceller's reference) is told when each frame plays by that estimate.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from protocol.audio import CODEC_ADPCM, FRAME_MS, FrameEncoder
from protocol.control import Speaker
from protocol.cues import REPLY_HOLD_MAX_MS, duration_ms

CUE_START_S = 0.03  # from sending PLAY_CUE to the cue sounding: the control write's way there and the earbud's tick

log = logging.getLogger(__name__)

SendFrame = Callable[[bytes], Awaitable[None]]


class DownlinkPacer:
    """Encodes 16 kHz PCM into audio frames and sends them no faster than the earbud plays them.

    `target_ms` is the buffer level the pacer aims for: high enough to ride out link jitter (a few connection
    intervals plus retransmissions), low enough to stay well inside the earbud's capacity. Frames sent in the last
    `in_flight_s` may not have reached the earbud when it reports its level (the link's latency; a reply's first
    burst is all in flight at once).
    """

    def __init__(
        self,
        send_frame: SendFrame,
        codec: int = CODEC_ADPCM,
        target_ms: float = 240.0,
        in_flight_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._send_frame = send_frame
        self._codec = codec
        self._frame_ms = FRAME_MS[codec]
        self.target_ms = target_ms
        self.in_flight_s = in_flight_s
        self._clock = clock
        self._encoder = FrameEncoder(codec)
        self._frames: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        # Estimated earbud buffer: level at the time of the last correction, drained in real time since (or from
        # when a cue that holds the reply ends, if that is later).
        self._level_ms = 0.0
        self._level_at = clock()
        self._cue_until = float("-inf")  # when the last cue sent ends on the earbud, by our estimate
        self._sent_at: deque[float] = deque()  # when the frames of the last `in_flight_s` were sent
        self._played_out_at = float("-inf")  # when the estimated buffer empties (or emptied); -inf: nothing played
        self._in_reply = False
        self.observer = None  # echo_reference.EchoCancelledUplink: told what plays when (echo cancellation)
        self.stats = {"frames_sent": 0, "replies": 0, "stopped": 0, "reports": 0}

    # --- producer side -------------------------------------------------------------------------------------------
    def play(self, pcm: bytes) -> None:
        """Queue PCM (16 kHz mono s16le) for the earbud. Returns at once; `run` sends it."""
        if not self._in_reply:
            self._in_reply = True
            self.stats["replies"] += 1
            self._encoder.restart(self._codec)
        for frame in self._encoder.encode(pcm):
            self._frames.append(frame)
        self._idle.clear()
        self._wakeup.set()

    def end_reply(self) -> None:
        """The reply is complete: pad and send its last frame (flagged END)."""
        if self._in_reply:
            for frame in self._encoder.flush():
                self._frames.append(frame)
            self._in_reply = False
            self._wakeup.set()

    def stop(self) -> None:
        """Drop everything not yet sent (the user stopped the reply). The caller also tells the earbud."""
        if self._frames or self._in_reply:
            self.stats["stopped"] += 1
        self._frames.clear()
        self._in_reply = False
        self._encoder.restart(self._codec)
        self._level_ms = 0.0
        self._level_at = self._clock()
        self._played_out_at = min(self._played_out_at, self._level_at)
        self._sent_at.clear()
        if self.observer is not None:
            self.observer.stopped(self._level_at)
        self._idle.set()

    @property
    def busy(self) -> bool:
        """True while reply audio is queued or still playing on the earbud (by our estimate)."""
        return bool(self._frames) or self._in_reply or self.estimated_level_ms() > 0

    async def wait_idle(self) -> None:
        """Wait until every queued frame has been sent."""
        await self._idle.wait()

    async def wait_played(self) -> None:
        """Wait until every queued frame has been sent and, by our estimate, played out by the earbud."""
        await self.wait_idle()
        # A speaker report may raise the estimate while we sleep: sleep again until it reaches zero.
        while (level_ms := self.estimated_level_ms()) > 0:
            await asyncio.sleep(level_ms / 1000.0)

    def cue_sent(self, cue: int) -> None:
        """The session sent PLAY_CUE: a reply that starts while it sounds waits for it on the earbud (after any cue
        still sounding: the earbud plays them one after another)."""
        starts = max(self._clock() + CUE_START_S, self._cue_until)
        self._cue_until = starts + duration_ms(cue) / 1000.0

    # --- earbud feedback -----------------------------------------------------------------------------------------
    def speaker_report(self, report: Speaker) -> None:
        """Correct the estimate with what the earbud says it holds.

        Frames still in flight are not in the report yet, so the truth lies between the report and the report plus
        what was sent in the last `in_flight_s`: clamp our estimate into that band. This corrects drift both ways (an
        earbud that started playing late, or one that dropped frames) without reacting to the in-flight gap.
        """
        self.stats["reports"] += 1
        now = self._clock()
        low = float(report.buffered_ms)
        high = low + self._in_flight_ms(now)
        level = self.estimated_level_ms(now)
        self._level_ms = min(max(level, low), high)
        # Less than we thought: it is playing (or lost frames), from now. Otherwise a cue may still hold the reply.
        self._level_at = now if level > high else max(now, self._level_at)
        if self._level_ms > 0:
            self._played_out_at = self._level_at + self._level_ms / 1000.0

    def played_out_ago(self) -> float:
        """Seconds since everything handed over finished playing on the earbud, by our estimate; negative while
        reply audio is queued or playing. The session's one answer to "is our own voice still in the mic?"."""
        now = self._clock()
        if self._frames or self._in_reply:
            return -(self.estimated_level_ms(now) + len(self._frames) * self._frame_ms) / 1000.0 or -1e-3
        return now - self._played_out_at

    def estimated_level_ms(self, now: float | None = None) -> float:
        now = self._clock() if now is None else now
        return max(0.0, self._level_ms - max(0.0, now - self._level_at) * 1000.0)

    def _in_flight_ms(self, now: float) -> float:
        while self._sent_at and now - self._sent_at[0] > self.in_flight_s:
            self._sent_at.popleft()
        return len(self._sent_at) * self._frame_ms

    # --- the sending loop ----------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Send queued frames forever (cancel to stop)."""
        while True:
            if not self._frames:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            now = self._clock()
            level = self.estimated_level_ms(now)
            if level == 0 and now < self._cue_until:  # the earbud is empty and sounds a cue: the reply waits for it
                self._level_at = min(self._cue_until, now + CUE_START_S + REPLY_HOLD_MAX_MS / 1000.0)
            drains_from = max(now, self._level_at)
            if level + self._frame_ms > self.target_ms:
                # Wait until one frame's worth has played out.
                await asyncio.sleep(drains_from - now + (level + self._frame_ms - self.target_ms) / 1000.0)
                continue
            frame = self._frames.popleft()
            self._level_ms = level + self._frame_ms
            self._level_at = drains_from
            self._played_out_at = drains_from + self._level_ms / 1000.0
            self._sent_at.append(now)
            if self.observer is not None:
                self.observer.frame_sent(frame, drains_from + level / 1000.0)
            try:
                await self._send_frame(frame)
            except Exception as error:  # a dropped link must not kill the session; the link reconnects
                log.warning("downlink frame not sent: %s", error)
                self.stop()
                continue
            self.stats["frames_sent"] += 1
