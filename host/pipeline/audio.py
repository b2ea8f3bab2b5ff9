"""PCM helpers shared by the stages: reading WAV files and resampling to 16 kHz with soxr."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import soxr

from host.errors import EarpieceError
from host.pipeline.messages import SAMPLE_RATE


class AudioInputError(EarpieceError, ValueError):
    """Audio that cannot be used; the message says why and what would work."""


def resample(pcm: bytes, rate: int, target: int = SAMPLE_RATE) -> bytes:
    """16-bit mono PCM at `rate` -> 16-bit mono PCM at `target` (soxr, high quality)."""
    if rate == target or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2")
    converted = soxr.resample(samples, rate, target, quality="HQ")
    return np.asarray(converted, dtype="<i2").tobytes()


def to_mono(pcm: bytes, channels: int) -> bytes:
    if channels == 1:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels).astype(np.int32)
    return samples.mean(axis=1).astype("<i2").tobytes()


def read_wav(path: str | Path) -> bytes:
    """A 16-bit PCM WAV file (any rate, mono or stereo) as 16 kHz mono PCM. Raises AudioInputError."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except FileNotFoundError:
        raise AudioInputError(f"{path}: no such file") from None
    except (wave.Error, EOFError) as error:
        raise AudioInputError(f"{path}: not a PCM WAV file ({error}); convert it, e.g. "
                              f"`sox IN -b 16 -c 1 -r 16000 OUT.wav`") from None
    except OSError as error:
        raise AudioInputError(f"{path}: cannot read ({error.strerror or error})") from None
    if width != 2:
        raise AudioInputError(f"{path}: {8 * width}-bit samples; only 16-bit PCM WAV is supported "
                              f"(convert with `sox IN -b 16 OUT.wav`)")
    frames = frames[: len(frames) - len(frames) % (2 * channels)]
    return resample(to_mono(frames, channels), rate)


def silence(seconds: float) -> bytes:
    return bytes(2 * int(seconds * SAMPLE_RATE))
