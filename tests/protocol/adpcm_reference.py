"""IMA-ADPCM reference data: what CPython's audioop.lin2adpcm / adpcm2lin produced for fixed inputs.

audioop is gone from Python 3.13, so its answers were recorded once (CPython 3.11) in adpcm_golden.json: digests
and states for the encodings and decodings of the deterministic inputs below. The inputs are made with integer
arithmetic only (a linear congruential generator, no floats, no numpy), so they are the same bytes on every
platform and version; `signal_digest` in the file guards that. Digests are the first 16 hex digits of SHA-256.
"""
import hashlib
import json
import struct
from pathlib import Path

GOLDEN = json.loads((Path(__file__).resolve().parent / "adpcm_golden.json").read_text(encoding="utf-8"))
SAMPLE_RATE = 16000
FRAME_BYTES = 640  # 20 ms of PCM16 at 16 kHz
CASES = 150


def digest(data: bytes) -> str:
    return hashlib.sha256(bytes(data)).hexdigest()[:16]


def _lcg(seed: int):
    """Numerical Recipes' 32-bit LCG: the same numbers everywhere, forever."""
    state = seed & 0xFFFFFFFF
    while True:
        state = (1664525 * state + 1013904223) & 0xFFFFFFFF
        yield state


def _pcm(samples) -> bytes:
    return struct.pack("<%dh" % len(samples), *[max(-32768, min(32767, s)) for s in samples])


def reference_signal() -> bytes:
    """1.5 s: a loud rising sweep (triangle wave), noise, silence, then full-scale square steps (clipping)."""
    n = SAMPLE_RATE * 3 // 8
    samples = []
    phase = 0
    for i in range(n):  # triangle wave sweeping ~100 Hz .. ~7 kHz, amplitude 20000
        phase = (phase + 400 + (i * 27600) // n) & 0xFFFF  # 16-bit phase step per sample
        folded = phase if phase < 0x8000 else 0xFFFF - phase
        samples.append((folded * 40000) // 0x8000 - 20000)
    rng = _lcg(7)
    for _ in range(n):  # roughly Gaussian (sum of four uniforms), sigma about 6000
        samples.append(sum((next(rng) >> 16) - 32768 for _ in range(4)) * 6000 // 37837)
    samples.extend([0] * n)
    samples.extend([32767 if (i // 37) % 2 == 0 else -32768 for i in range(n)])
    return _pcm(samples)


def _state(rng):
    choice = next(rng) % 3
    if choice == 0:
        return None
    return ((next(rng) >> 8) % 65536 - 32768, (next(rng) >> 8) % 89)


def encode_cases():
    """CASES (pcm, state) pairs: 0..400 samples of full-range, small or extreme values, from any state."""
    rng = _lcg(11)
    cases = []
    for _ in range(CASES):
        count = (next(rng) >> 8) % 401
        kind = next(rng) % 3
        samples = []
        for _ in range(count):
            value = (next(rng) >> 8) % 65536 - 32768
            if kind == 1:
                value //= 256  # quiet
            elif kind == 2:
                value = 32767 if value & 1 else -32768  # clipping
            samples.append(value)
        cases.append((_pcm(samples), _state(rng)))
    return cases


def decode_cases():
    """CASES (adpcm bytes, state) pairs: 0..200 random bytes from any state."""
    rng = _lcg(13)
    cases = []
    for _ in range(CASES):
        count = (next(rng) >> 8) % 201
        data = bytes((next(rng) >> 24) for _ in range(count))
        cases.append((data, _state(rng)))
    return cases


def as_state(value):
    return None if value is None else tuple(value)
