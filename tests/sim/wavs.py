"""WAV files for simulator tests, made on the spot (no fixtures on disk)."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np


def write_tone_wav(path: Path, *, seconds: float = 2.0, rate: int = 44100, channels: int = 2,
                   freq: float = 440.0, amplitude: float = 0.5) -> Path:
    """A sine tone as PCM16 WAV, deliberately not 16 kHz mono so the earbud must resample and mix down."""
    t = np.arange(int(seconds * rate)) / rate
    mono = (amplitude * 32767 * np.sin(2 * math.pi * freq * t)).astype("<i2")
    frames = np.repeat(mono[:, None], channels, axis=1).tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0
