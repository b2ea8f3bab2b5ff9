"""Echo cancellation: the mic's audio with our own reply taken out (WebRTC AEC3, through pywebrtc-audio).

`EchoCanceller.process(near, far)` takes the mic's PCM and, sample for sample beside it, what the speaker played
(the reference); it returns the mic's audio with the reply's echo removed. AEC3 finds the delay between the two
by itself, up to about half a second (measured: 500 ms cancelled, 550 ms not), and keeps adapting to the echo
path, so the reference must lead the echo by 0..~500 ms — never lag it.

While the wearer talks over the reply (double talk) AEC3 also dents their voice: measured on a synthetic room
echo 6–20 dB under the voice, the voice came through 3–7 dB quieter (correlation with the clean voice 0.45–0.65),
and short words were lost. So a second, linear canceller (linear_echo.py: an adaptive filter, no suppressor) runs
beside it on the same audio: `process_both` returns AEC3's output, nearly free of echo (to tell when the wearer
speaks), and the linear one, with the wearer's voice whole and the echo only partly removed (to recognize what
they said). bench/bench_echo_cancel.py measures both.

All PCM is 16 kHz 16-bit mono little-endian; AEC3 works on 10 ms frames, so a chunk's last partial frame is held
until the next chunk completes it (the output can be up to 10 ms shorter or longer than a given input).
"""

from __future__ import annotations

import math
import statistics
from collections import deque

import numpy as np

from host.errors import EarpieceError
from host.pipeline.linear_echo import LinearEchoCanceller
from host.pipeline.messages import SAMPLE_RATE

FRAME_SAMPLES = SAMPLE_RATE // 100  # AEC3's 10 ms frame
FRAME_BYTES = FRAME_SAMPLES * 2
ACTIVE_FAR_RMS = 100.0  # a reference frame louder than this (-50 dBFS) counts towards the echo return loss
BLOCK_FRAMES = 10  # the echo return loss is taken per 100 ms block; its median leaves out the wearer's words
# The cancellers have learned the room once the linear one takes this much out of the echo (the median of its last
# LEARNED_BLOCKS blocks). Until then what it lets through is mostly the reply's own echo, which a stop word or the
# wake word could be heard in. Measured in the whole system (bench_barge_in): reached after 2.0-2.4 s of reply.
LEARNED_DB = 10.0
LEARNED_BLOCKS = 5


class EchoCancelUnavailable(EarpieceError):
    """pywebrtc-audio is missing."""


def _aec3():
    try:
        import pywebrtc_audio
    except ImportError as error:
        raise EchoCancelUnavailable("echo cancellation needs pywebrtc-audio: run `make setup` again, or set "
                                    "[listen] echo_cancel = false") from error
    return pywebrtc_audio.EchoCanceller(SAMPLE_RATE, 1)


class EchoCanceller:
    def __init__(self) -> None:
        self._aec = _aec3()
        self.linear = LinearEchoCanceller()
        self._near = b""
        self._far = b""
        self.frames = 0
        # Energy of the mic's audio and of what each canceller left of it, per 100 ms block while the reference sounds.
        self._block = [0.0, 0.0, 0.0, 0]
        self._losses: deque[float] = deque(maxlen=6000)
        self._linear_losses: deque[float] = deque(maxlen=6000)
        self._learned = False

    def process(self, near: bytes, far: bytes) -> bytes:
        """The mic's `near` with the echo of `far` (same length) removed; whole 10 ms frames out."""
        return self.process_both(near, far)[0]

    def process_both(self, near: bytes, far: bytes) -> tuple[bytes, bytes]:
        """`near` with the echo of `far` removed by AEC3 (echo and some voice suppressed) and by the linear filter
        alone (voice whole, some echo left): two byte strings of the same length, whole 10 ms frames."""
        if len(near) != len(far):
            raise ValueError(f"near and far must be the same length ({len(near)} != {len(far)} bytes)")
        self._near += near
        self._far += far
        whole = len(self._near) // FRAME_BYTES * FRAME_BYTES
        if not whole:
            return b"", b""
        near_frames = np.frombuffer(self._near[:whole], dtype="<i2").reshape(-1, FRAME_SAMPLES)
        far_frames = np.frombuffer(self._far[:whole], dtype="<i2").reshape(-1, FRAME_SAMPLES)
        self._near, self._far = self._near[whole:], self._far[whole:]
        out = np.empty_like(near_frames)
        linear = np.empty_like(near_frames)
        for i, (n, f) in enumerate(zip(near_frames, far_frames)):
            out[i] = np.asarray(self._aec.process(n, f), dtype=np.int16).reshape(-1)
            linear[i] = np.clip(self.linear.process(n, f), -32768, 32767)
            if np.sqrt(np.mean(f.astype(np.float64) ** 2)) > ACTIVE_FAR_RMS:
                self._count(*(float(np.sum(x.astype(np.float64) ** 2)) for x in (n, out[i], linear[i])))
        self.frames += len(out)
        return out.astype("<i2").tobytes(), linear.astype("<i2").tobytes()

    def _count(self, near_energy: float, out_energy: float, linear_energy: float) -> None:
        block = self._block
        block[0] += near_energy
        block[1] += out_energy
        block[2] += linear_energy
        block[3] += 1
        if block[3] == BLOCK_FRAMES:
            if block[0] > 0:
                self._losses.append(10 * math.log10(block[0] / max(block[1], 1.0)))
                self._linear_losses.append(10 * math.log10(block[0] / max(block[2], 1.0)))
            self._block = [0.0, 0.0, 0.0, 0]

    @property
    def learning(self) -> bool:
        """Whether the cancellers are still learning the room: the linear canceller has not yet taken LEARNED_DB out
        of the echo (over LEARNED_BLOCKS blocks in a row). Once learned, they stay learned."""
        if not self._learned and len(self._linear_losses) >= LEARNED_BLOCKS:
            recent = list(self._linear_losses)[-LEARNED_BLOCKS:]
            self._learned = statistics.median(recent) >= LEARNED_DB
        return not self._learned

    def echo_return_loss_db(self, linear: bool = False) -> float | None:
        """How much of the echo was removed, in dB (echo return loss enhancement): the median over 100 ms blocks
        while the reference sounded of how much quieter the mic's audio came out than it went in (the wearer's
        words over the reply, which stay, are a minority of the blocks). AEC3's output, or with `linear` the
        linear canceller's. None before the reference has sounded."""
        losses = self._linear_losses if linear else self._losses
        return statistics.median(losses) if losses else None

    def reset(self) -> None:
        self._aec.reset()
        self.linear = LinearEchoCanceller()
        self._near = self._far = b""
