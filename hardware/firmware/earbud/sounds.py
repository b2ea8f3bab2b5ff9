"""Sounds the earbud makes by itself: cues (earcons) as generated tones, and the spoken passkey.

Tones are synthesised on the fly from a small sine table (no stored audio, a few hundred bytes of RAM).
Each cue's notes are in protocol/cues.py, shared with the host (which times replies and its echo reference by them).
Clips (the digit recordings) are fetched from the board one at a time, when they start to play, so six
spoken digits never sit in RAM together. A missing clip falls back to a tone of its own pitch per digit.
"""
import math
from array import array

from protocol.cues import CUES
from protocol._mp import micropython

from earbud import pcm
from earbud.pcm import ptr16, ptr32  # noqa: F401 -- viper annotation stand-ins for CPython

SAMPLE_RATE = 16000
_TABLE_BITS = 8
_TABLE_SIZE = 1 << _TABLE_BITS
_SINE = array("h", [int(math.sin(2 * math.pi * i / _TABLE_SIZE) * 32767) for i in range(_TABLE_SIZE)])
_FADE = 64  # samples (4 ms) of fade-in/out so notes start and stop without a click (a shift in the loop)
TONE_AMPLITUDE = 9000  # about -11 dBFS: clearly audible in an earbud, well below a reply's peaks

DIGIT_GAP_MS = 250  # silence between spoken digits, so "1 1" is two digits
DIGIT_TONE_MS = 300
PASSKEY_DIGITS = 6


def digit_tone_hz(digit):
    """The fallback pitch for a digit without a clip: 10 pitches a musical third or so apart."""
    return 400 + 120 * digit


# tone state, an array('i') so the viper loop can update it in place: phase (16.16 fixed point into the sine
# table, kept to 24 bits), step per sample, amplitude (Q15), first sample of the fade-out, samples played
_PHASE, _STEP, _AMPLITUDE, _FADE_OUT_FROM, _POSITION = 0, 1, 2, 3, 4


@micropython.viper
def _sine_into(out: ptr16, start: int, n: int, state: ptr32):
    table = ptr16(_SINE)
    phase = state[0]
    step = state[1]
    amplitude = state[2]
    fade_out_from = state[3]
    position = state[4]
    for i in range(n):
        v = int(table[(phase >> 16) & 255])
        if v > 32767:
            v -= 65536
        v = (v * amplitude) >> 15
        p = position + i
        if p < 64:  # _FADE samples of fade-in
            v = (v * p) >> 6
        elif p >= fade_out_from:
            v = (v * (fade_out_from + 64 - p)) >> 6
        s = int(out[start + i])
        if s > 32767:
            s -= 65536
        s += v
        if s > 32767:
            s = 32767
        elif s < -32768:
            s = -32768
        out[start + i] = s
        phase = (phase + step) & 0xFFFFFF
    state[0] = phase
    state[4] = position + n


class Tone:
    """A sine note (or a rest when hz is 0) mixed into the output."""

    def __init__(self, hz, ms, amplitude=TONE_AMPLITUDE):
        self.hz = hz
        self.total = ms * SAMPLE_RATE // 1000
        self.position = 0
        step = (hz * _TABLE_SIZE * 65536) // SAMPLE_RATE
        self._state = array("i", [0, step, amplitude, self.total - _FADE, 0])

    def mix_into(self, out, start, n, hal):
        n = min(n, self.total - self.position)
        if n > 0 and self.hz:
            self._state[_POSITION] = self.position
            _sine_into(out, start, n, self._state)
        self.position += max(n, 0)
        return n

    @property
    def done(self):
        return self.position >= self.total


class Clip:
    """A named clip from the board (a spoken digit); falls back to a tone if the board has none."""

    def __init__(self, name, fallback_hz, fallback_ms):
        self.name = name
        self._fallback = (fallback_hz, fallback_ms)
        self._samples = None
        self._source = None  # a Tone once we know the clip is missing
        self.position = 0
        self.total = 1  # unknown until the clip is fetched

    def mix_into(self, out, start, n, hal):
        if self._samples is None and self._source is None:
            data = hal.clip(self.name)
            if data and len(data) >= 2:
                self._samples = array("h", data[:len(data) & ~1])
                self.total = len(self._samples)
            else:
                self._source = Tone(self._fallback[0], self._fallback[1])
        if self._source is not None:
            n = self._source.mix_into(out, start, n, hal)
            self.position = self._source.position
            self.total = self._source.total
            return n
        n = min(n, self.total - self.position)
        if n > 0:
            pcm.mix(out, start, self._samples, self.position, n)
        self.position += n
        if self.position >= self.total:
            self._samples = None  # free the clip as soon as it has played
        return n

    @property
    def done(self):
        return self.position >= self.total


class LocalPlayer:
    """A queue of sounds played one after another, mixed over whatever reply audio is playing."""

    MAX_QUEUED = 32  # a burst of cue requests cannot grow the queue (and RAM) without bound

    def __init__(self, hal):
        self._hal = hal
        self._queue = []

    @property
    def busy(self):
        return bool(self._queue)

    def clear(self):
        self._queue = []

    def play_cue(self, cue):
        for hz, ms in CUES[cue]:
            self._add(Tone(hz, ms))

    def play_digits(self, digits):
        for i, digit in enumerate(digits):
            if i:
                self._add(Tone(0, DIGIT_GAP_MS))
            self._add(Clip("digit_%d" % digit, digit_tone_hz(digit), DIGIT_TONE_MS))

    def mix_into(self, out, n):
        """Mix the next n samples of queued sounds into the array out[0:n]."""
        done = 0
        while done < n and self._queue:
            sound = self._queue[0]
            got = sound.mix_into(out, done, n - done, self._hal)
            done += got
            if sound.done or not got:
                self._queue.pop(0)

    def _add(self, sound):
        if len(self._queue) < self.MAX_QUEUED:
            self._queue.append(sound)


def passkey_digits(passkey):
    """123456 -> [1, 2, 3, 4, 5, 6]; 42 -> [0, 0, 0, 0, 4, 2] (a BLE passkey is always six digits)."""
    if not isinstance(passkey, int) or not 0 <= passkey <= 999999:
        raise ValueError("passkey %r is not a 6-digit number 0..999999" % (passkey,))
    return [(passkey // 10 ** (PASSKEY_DIGITS - 1 - i)) % 10 for i in range(PASSKEY_DIGITS)]
