"""The simulated earbud's acoustic echo: what its speaker plays leaks back into its own mic.

A real earbud's mic hears its speaker (through the housing, the ear canal and the room), a little later and
quieter, smeared by reflections. `EchoPath` models that as a delay, a gain and a room response (a direct path plus
an exponentially decaying noise tail with the given RT60), added to what the mic hears of the world.

Speaker and mic share one clock, as on a real board: the speaker's output goes in with `played` (each audio tick,
contiguous from the tick it started in), and the mic's block captured from time t gets the echo of what played
from t - delay (`mix`). The simulated board's ticks jitter; mapping both sides onto wall-clock time keeps the echo a
linear, steady copy of the speaker's output, which is what an echo canceller must be given.

`--echo DELAY_MS:GAIN_DB[:RT60_MS]`, e.g. `--echo 20:-10:150`: 20 ms later, 10 dB quieter, a 150 ms room tail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from device_sim.audio_files import SAMPLE_RATE

DEFAULT_RT60_MS = 120.0
MAX_DELAY_MS = 1000.0
KEEP_S = 2.0  # speaker output kept for the mic: more than the longest delay
REANCHOR_S = 0.15  # a tick this far off the speaker's timeline (the board stalled): start the timeline again


@dataclass(frozen=True)
class EchoSpec:
    delay_ms: float
    gain_db: float
    rt60_ms: float = DEFAULT_RT60_MS


def parse_echo(text: str) -> EchoSpec:
    """`DELAY_MS:GAIN_DB[:RT60_MS]` -> EchoSpec (argparse `type=`: raises ValueError with a one-line reason)."""
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        numbers = [float(part) for part in parts]
    except ValueError:
        raise ValueError(f"--echo takes DELAY_MS:GAIN_DB[:RT60_MS], e.g. 20:-10:150 (got {text!r})") from None
    spec = EchoSpec(*numbers)
    if not 0 <= spec.delay_ms <= MAX_DELAY_MS or spec.gain_db > 20 or not 0 <= spec.rt60_ms <= 2000:
        raise ValueError(f"--echo {text}: delay 0..{MAX_DELAY_MS:g} ms, gain at most +20 dB, RT60 0..2000 ms")
    return spec


def room_response(rt60_ms: float, seed: int = 7) -> np.ndarray:
    """A direct path (1.0) followed by a decaying noise tail that falls 60 dB in rt60_ms (empty room: [1.0])."""
    if rt60_ms <= 0:
        return np.ones(1)
    n = max(2, int(SAMPLE_RATE * rt60_ms / 1000))
    t = np.arange(n) / SAMPLE_RATE
    tail = np.random.default_rng(seed).normal(size=n) * 10 ** (-3 * t / (rt60_ms / 1000))  # -60 dB at rt60
    tail *= 0.3 / np.sqrt(np.sum(tail[1:] ** 2))  # the reflections carry about a tenth of the direct energy
    tail[0] = 1.0
    return tail


class EchoPath:
    """Speaker samples in (`played`), the mic's samples with their echo added out (`mix`); PCM16LE 16 kHz."""

    def __init__(self, spec: EchoSpec, clock: Callable[[], float] = time.monotonic):
        self.spec = spec
        self._clock = clock
        self._response = room_response(spec.rt60_ms) * 10 ** (spec.gain_db / 20)
        self._delay_s = spec.delay_ms / 1000
        self._tail = np.zeros(len(self._response) - 1)  # the room still ringing from earlier samples
        self._start: float | None = None  # when _echo[0] reaches the mic
        self._echo = np.zeros(0)  # the echo, on the mic's clock
        self.reanchors = 0  # the speaker's timeline started again (its ticks fell REANCHOR_S behind, or ran ahead)

    def played(self, pcm: bytes, at: float | None = None) -> None:
        """What the speaker played from `at` (default: now) on."""
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if not len(x):
            return
        arrives = (self._clock() if at is None else at) + self._delay_s
        end = None if self._start is None else self._start + len(self._echo) / SAMPLE_RATE
        if end is None or abs(arrives - end) > REANCHOR_S:
            self.reanchors += end is not None
            self._start, self._echo = arrives, np.zeros(0)
            self._tail[:] = 0
        y = np.convolve(x, self._response)
        y[: len(self._tail)] += self._tail
        self._tail = y[len(x):].copy()
        self._echo = np.concatenate([self._echo, y[: len(x)]])
        drop = len(self._echo) - int((KEEP_S + self._delay_s) * SAMPLE_RATE)
        if drop > 0:
            self._echo = self._echo[drop:]
            self._start += drop / SAMPLE_RATE

    def mix(self, pcm: bytes, captured_at: float | None = None) -> bytes:
        """The mic's `pcm`, captured from `captured_at` (default: ending now) on, with the echo that reached it
        meanwhile added (clipped like a real ADC)."""
        near = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        n = len(near)
        if self._start is None or not n:
            return pcm
        at = self._clock() - n / SAMPLE_RATE if captured_at is None else captured_at
        offset = round((at - self._start) * SAMPLE_RATE)
        lo, hi = max(0, offset), min(len(self._echo), offset + n)
        if hi > lo:
            near[lo - offset: hi - offset] += self._echo[lo:hi]
        return np.clip(near, -32768, 32767).astype("<i2").tobytes()
