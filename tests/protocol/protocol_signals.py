"""Test signals shared by the protocol tests: real speech from espeak-ng, and a chirp + noise + silence mix.

Speech is synthesised at test time (espeak-ng writes a 22.05 kHz WAV) and resampled to 16 kHz with soxr, so no
audio file is checked in and nothing is downloaded.
"""
import functools
import os
import subprocess
import tempfile
import wave

import numpy as np
import soxr

SAMPLE_RATE = 16000
SPEECH_TEXT = "Hey earpiece, what is on my calendar tomorrow morning? Remind me to call Anna at nine."


@functools.lru_cache(maxsize=None)
def speech_pcm(text: str = SPEECH_TEXT) -> bytes:
    """espeak-ng speech as 16 kHz mono PCM16LE bytes."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "speech.wav")
        subprocess.run(["espeak-ng", "-w", path, text], check=True, capture_output=True, timeout=60)
        with wave.open(path, "rb") as wav:
            assert wav.getnchannels() == 1 and wav.getsampwidth() == 2, "espeak-ng should write mono 16-bit"
            rate = wav.getframerate()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    resampled = soxr.resample(samples.astype(np.float32), rate, SAMPLE_RATE)
    return np.clip(np.round(resampled), -32768, 32767).astype("<i2").tobytes()


def chirp_noise_silence(seconds: float = 1.5, seed: int = 7) -> bytes:
    """A loud 100 Hz..7 kHz chirp, then white noise, then silence, then full-scale square steps (clipping)."""
    rng = np.random.default_rng(seed)
    n = int(SAMPLE_RATE * seconds / 4)
    t = np.arange(n) / SAMPLE_RATE
    duration = n / SAMPLE_RATE
    chirp = 20000 * np.sin(2 * np.pi * (100 * t + (7000 - 100) / (2 * duration) * t * t))
    noise = rng.normal(0, 6000, n)
    silence = np.zeros(n)
    steps = np.where((np.arange(n) // 37) % 2 == 0, 32767, -32768)
    signal = np.concatenate([chirp, noise, silence, steps])
    return np.clip(np.round(signal), -32768, 32767).astype("<i2").tobytes()


def snr_db(reference: bytes, decoded: bytes) -> float:
    x = np.frombuffer(reference, dtype="<i2").astype(np.float64)
    y = np.frombuffer(decoded, dtype="<i2").astype(np.float64)[: len(x)]
    noise = np.sum((x - y) ** 2)
    return float(10 * np.log10(np.sum(x * x) / max(noise, 1e-9)))
