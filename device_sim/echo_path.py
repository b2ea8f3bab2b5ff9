"""The simulated earbud's acoustic echo: what its speaker plays leaks back into its own mic.

A real earbud's mic hears its speaker (through the housing, the ear canal and the room), a little later and
quieter, smeared by reflections. `EchoPath` models that as a delay, a gain and a room response (a direct path plus
an exponentially decaying noise tail with the given RT60), added to what the mic hears of the world. The speaker's
output goes in with `played` (each audio tick) and comes out of `mix` (each mic read), in the order the board
produces and reads them, so the two sides share one sample clock.

`--echo DELAY_MS:GAIN_DB[:RT60_MS]`, e.g. `--echo 20:-10:150`: 20 ms later, 10 dB quieter, a 150 ms room tail.
The board reads its mic before it feeds the speaker in each 20 ms tick, so a delay under one tick acts as one tick.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device_sim.audio_files import SAMPLE_RATE

DEFAULT_RT60_MS = 120.0
MAX_DELAY_MS = 1000.0
DRIFT_SLACK_SAMPLES = SAMPLE_RATE * 60 // 1000  # the mic and speaker tick apart by up to this much before resync


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

    def __init__(self, spec: EchoSpec):
        self.spec = spec
        self._response = room_response(spec.rt60_ms) * 10 ** (spec.gain_db / 20)
        self._delay = int(round(spec.delay_ms * SAMPLE_RATE / 1000))
        self._tail = np.zeros(len(self._response) - 1)  # the room still ringing from earlier samples
        self._queue = np.zeros(self._delay)  # echo on its way to the mic, oldest first

    def played(self, pcm: bytes) -> None:
        """What the speaker played this tick."""
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if not len(x):
            return
        y = np.convolve(x, self._response)
        y[: len(self._tail)] += self._tail[: len(y)]
        self._tail = y[len(x):].copy()
        self._queue = np.concatenate([self._queue, y[: len(x)]])
        if len(self._queue) > self._delay + DRIFT_SLACK_SAMPLES:  # the mic stopped or lags: keep the delay true
            self._queue = self._queue[-self._delay - 1:] if self._delay else self._queue[-1:]

    def mix(self, pcm: bytes) -> bytes:
        """The mic's `pcm` with the echo that reached it meanwhile added (clipped like a real ADC)."""
        near = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        n = len(near)
        echo, self._queue = self._queue[:n], self._queue[n:]
        if len(echo) < n:  # the speaker has not produced this far yet: silence until it does
            echo = np.concatenate([echo, np.zeros(n - len(echo))])
        return np.clip(near + echo, -32768, 32767).astype("<i2").tobytes()
