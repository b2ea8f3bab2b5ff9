"""A linear echo canceller: an adaptive filter that subtracts the reply's echo and leaves the wearer's voice whole.

The bridge knows sample for sample what the earbud played, and the way from the earbud's speaker to its mic is
(nearly) linear, so a filter that learns that way and subtracts its estimate of the echo removes the echo without
touching anything else the mic hears. WebRTC AEC3 adds a suppressor after its linear stage that also dents the
wearer's voice while the reply plays (3–7 dB quieter, much more for some words); this canceller has none, so a stop
word said over a reply reaches the recognizer as it was said. What it leaves of the echo is quieter than the voice
but not silent: measured on the simulated path (20 ms, -10 dB, 150 ms room) 28 dB of echo removed offline with the
voice kept (correlation 0.99; bench/bench_echo_cancel.py), but 10-16 dB (median over the replies) in the whole
system (bench/bench_barge_in.py), where the uplink's ADPCM adds noise about 20 dB under the echo that no linear filter
can take out. A block it would make louder passes as it came.

Two parts, as in AEC3:
- `DelayEstimator`: where the echo sits behind the reference (GCC-PHAT over the last 0.3 s, every 50 ms). The
  reference timeline the bridge keeps can jump by tens of ms between sentences; the filter follows the estimate.
- `LinearEchoCanceller`: a partitioned-block frequency-domain NLMS (PBFDAF, as in Speex's MDF) over the reference
  read from just before that delay: 10 ms blocks, `TAPS_S` of room response, a per-bin step normalised by the
  reference's power, proportionate across partitions. Two filters keep it stable while the wearer talks over the
  reply (double talk would pull the filter off the echo path): a background filter always adapts, a foreground
  filter produces the output and takes the background's weights only while the background cancels clearly
  better; a background that diverged goes back to the foreground's weights.
"""

from __future__ import annotations

import numpy as np

RATE = 16000
BLOCK = 160  # 10 ms
FFT = 2 * BLOCK
BINS = FFT // 2 + 1
TAPS_S = 0.16  # room response covered after the direct echo (a room's tail is 40-50 dB down by then)
PARTITIONS = round(TAPS_S * RATE / BLOCK)
PRE_S = 0.02  # the filter starts this much before the estimated delay (the estimate's error, the path's onset)
STEP = 0.3  # NLMS step of the background filter (larger learns faster, misadjusts more in double talk)
FIRST_STEP = 0.8  # ... while it learns the room: for the first FIRST_BLOCKS blocks the reference sounds in
FIRST_BLOCKS = 300
POWER_SMOOTHING = 0.9  # of the reference's per-bin power, per block
ENERGY_SMOOTHING = 0.9  # of the two filters' error energies, per block (~100 ms)
COPY_WHEN_BETTER_DB = 1.0  # the background's error this much under the foreground's: the foreground takes it
RESET_WHEN_WORSE_DB = 6.0  # the background's error this much over the foreground's: it diverged, start it again

MAX_DELAY_S = 0.6
ESTIMATE_S = 0.3  # audio the delay is estimated on (short: it must find a jump soon after it)
ESTIMATE_EVERY = 5  # blocks (50 ms)
ACTIVE_RMS = 100.0  # reference quieter than this (-50 dBFS) over the estimate's second: nothing to estimate on
SURE_PEAK = 0.35  # a GCC-PHAT peak this high is taken at once; a lower one (over FAIR_PEAK) when seen twice
FAIR_PEAK = 0.15
DEFAULT_DELAY_S = 0.22  # until estimated: the lead the bridge reads the reference with, plus a little


class DelayEstimator:
    """Where the echo of the reference sits in the mic's audio, in samples (GCC-PHAT on the last second)."""

    def __init__(self) -> None:
        self.delay = round(DEFAULT_DELAY_S * RATE)
        self._candidate: int | None = None
        self.changes = 0

    def update(self, near: np.ndarray, far: np.ndarray) -> None:
        """`near` and `far`: the last ESTIMATE_S + MAX_DELAY_S of each, ending at the same sample."""
        reach = round(MAX_DELAY_S * RATE)
        mic = near[reach:]
        ref = far[:]
        if np.sqrt(np.mean(ref[reach:] ** 2)) < ACTIVE_RMS:
            return
        n = 1 << int(np.ceil(np.log2(len(ref) + len(mic))))
        cross = np.conj(np.fft.rfft(mic, n)) * np.fft.rfft(ref, n)
        cross /= np.abs(cross) + 1e-9
        lags = np.fft.irfft(cross, n)[: reach + 1]  # lag k: mic[j] ~ ref[j + k], an echo reach - k samples late
        lag = int(np.argmax(lags))
        peak = float(lags[lag])
        delay = reach - lag
        if delay < 0 or peak < FAIR_PEAK:
            return
        if peak >= SURE_PEAK or (self._candidate is not None and abs(delay - self._candidate) <= 2):
            if abs(delay - self.delay) > 2:
                self.changes += 1
                self.delay = delay
        self._candidate = delay


class LinearEchoCanceller:
    """`process(near, far)`: int16 arrays of `BLOCK` samples each; returns `near` less the echo of `far` (float)."""

    def __init__(self) -> None:
        self.delays = DelayEstimator()
        keep = round((MAX_DELAY_S + ESTIMATE_S) * RATE) + BLOCK
        self._far_history = np.zeros(keep)
        self._near_history = np.zeros(keep)
        self._blocks = 0
        self._window = np.zeros(FFT)  # the last two blocks of the reference as the filter reads it
        self._x = np.zeros((PARTITIONS, BINS), complex)  # spectra of the last PARTITIONS reference blocks, newest 0
        self._background = np.zeros((PARTITIONS, BINS), complex)
        self._foreground = np.zeros((PARTITIONS, BINS), complex)
        self._power = np.zeros(BINS)
        self._energy = np.zeros(2)  # smoothed error energy of background, foreground
        self._error_window = np.zeros(FFT)
        self._learned = 0  # blocks adapted on with the reference sounding
        self.copies = self.resets = 0

    @property
    def learning(self) -> bool:
        """Whether it is still learning the room (the first FIRST_BLOCKS blocks of reference): until then its
        output is nearly the echo itself."""
        return self._learned < FIRST_BLOCKS

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        d = near.astype(np.float64)
        self._far_history = np.concatenate([self._far_history[BLOCK:], far])
        self._near_history = np.concatenate([self._near_history[BLOCK:], d])
        self._blocks += 1
        if self._blocks % ESTIMATE_EVERY == 0:
            self.delays.update(self._near_history, self._far_history)
        shift = max(0, self.delays.delay - round(PRE_S * RATE))
        end = len(self._far_history) - shift
        self._window = self._far_history[end - FFT: end]
        self._x = np.roll(self._x, 1, axis=0)
        self._x[0] = np.fft.rfft(self._window)
        background = self._error(self._background, d)
        foreground = self._error(self._foreground, d)
        self._adapt(background)
        self._choose(background, foreground)
        # Right after the reference's timeline jumped (until the delay is found again) the filter can add echo
        # instead of removing it: then the mic's audio passes as it was.
        return foreground if np.dot(foreground, foreground) <= np.dot(d, d) else d

    def _error(self, weights: np.ndarray, d: np.ndarray) -> np.ndarray:
        echo = np.fft.irfft(np.einsum("pk,pk->k", weights, self._x), FFT)[BLOCK:]
        return d - echo

    def _adapt(self, error: np.ndarray) -> None:
        self._power = POWER_SMOOTHING * self._power + (1 - POWER_SMOOTHING) * np.abs(self._x[0]) ** 2
        if not self._power.any():
            return
        self._error_window[BLOCK:] = error
        e = np.fft.rfft(self._error_window)
        # Proportionate: partitions that hold more of the echo path learn faster (Speex MDF's `prop`).
        size = np.sqrt(np.sum(np.abs(self._background) ** 2, axis=1)) + 1.0
        share = 0.9 * size / size.sum() + 0.1 / PARTITIONS
        self._learned += np.sqrt(np.mean(self._window[BLOCK:] ** 2)) > ACTIVE_RMS
        step = (FIRST_STEP if self._learned < FIRST_BLOCKS else STEP) / (self._power + 1e-3 * self._power.mean() + 1.0)
        gradient = np.fft.irfft(share[:, None] * step * np.conj(self._x) * e, FFT, axis=1)
        gradient[:, BLOCK:] = 0  # its circular-convolution part out: each partition stays BLOCK taps long
        self._background += np.fft.rfft(gradient, axis=1)

    def _choose(self, background: np.ndarray, foreground: np.ndarray) -> None:
        energies = np.array([np.dot(background, background), np.dot(foreground, foreground)])
        self._energy = ENERGY_SMOOTHING * self._energy + (1 - ENERGY_SMOOTHING) * energies
        b, f = self._energy + 1.0
        if b * 10 ** (COPY_WHEN_BETTER_DB / 10) < f:
            self._foreground[:] = self._background
            self._energy[1] = self._energy[0]
            self.copies += 1
        elif b > f * 10 ** (RESET_WHEN_WORSE_DB / 10):
            self._background[:] = self._foreground
            self._energy[0] = self._energy[1]
            self.resets += 1
