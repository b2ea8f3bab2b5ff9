"""WAV in and out for the simulated earbud: any PCM WAV becomes 16 kHz mono PCM16; the speaker becomes a WAV.

Resampling uses soxr (a well-kept library) rather than our own DSP.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import soxr

SAMPLE_RATE = 16000


class AudioFileError(ValueError):
    """A WAV file that cannot be used (missing, not PCM, unsupported sample width)."""


def load_wav_16k_mono(path: str | Path) -> bytes:
    """Read a PCM WAV of any rate, width (8/16/24/32-bit) and channel count; return 16 kHz mono PCM16LE."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            raw = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as error:
        raise AudioFileError(f"cannot read {path} as a PCM WAV file ({error}); give a PCM .wav file") from error
    samples = _to_float(raw, width)
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE and len(samples):
        samples = soxr.resample(samples, rate, SAMPLE_RATE)
    return (np.clip(samples, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()


def _to_float(raw: bytes, width: int) -> np.ndarray:
    if width == 1:  # 8-bit WAV is unsigned
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128) / 128
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768
    if width == 3:
        b = np.frombuffer(raw[: len(raw) // 3 * 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float64) / (1 << 23)
    if width == 4:
        return np.frombuffer(raw, dtype="<i4").astype(np.float64) / (1 << 31)
    raise AudioFileError(f"unsupported WAV sample width {width} bytes; use 8, 16, 24 or 32-bit PCM")


class WavSink:
    """A growing 16 kHz mono PCM16 WAV file; the header is patched on every write, so the file is valid
    at any moment (tests read it while the earbud runs)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # opened here: wave.open(path) leaves a broken object on failure
        self._wav = wave.open(self._file, "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(SAMPLE_RATE)

    def write(self, pcm: bytes) -> None:
        self._wav.writeframes(pcm)
        self._file.flush()  # readers see it now

    def close(self) -> None:
        self._wav.close()
        self._file.close()


def speak_digit_clips(cache_dir: Path) -> dict[str, bytes]:
    """Spoken digits "digit_0".."digit_9" as 16 kHz PCM16, made once with espeak-ng and cached.
    Returns {} when espeak-ng is not installed (the core then plays a tone per digit)."""
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    clips: dict[str, bytes] = {}
    espeak = shutil.which("espeak-ng") or shutil.which("espeak")
    cache_dir.mkdir(parents=True, exist_ok=True)
    for digit, word in enumerate(words):
        cached = cache_dir / f"digit_{digit}.wav"
        if not cached.exists():
            if espeak is None:
                return {}
            with tempfile.NamedTemporaryFile(suffix=".wav", dir=cache_dir, delete=False) as tmp:
                tmp_path = Path(tmp.name)
            try:
                subprocess.run([espeak, "-w", str(tmp_path), word], check=True, capture_output=True, timeout=20)
                tmp_path.replace(cached)
            except (OSError, subprocess.SubprocessError):
                tmp_path.unlink(missing_ok=True)
                return {}
        clips[f"digit_{digit}"] = load_wav_16k_mono(cached)
    return clips
