"""WAV input and resampling (soxr): any rate, mono or stereo in; 16 kHz mono out; clear errors for the rest."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from host.pipeline.audio import AudioInputError, read_wav, resample


def write_wav(path, samples: np.ndarray, rate: int, channels: int = 1, width: int = 2):
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path


def tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * hz * t)).astype("<i2")


def dominant_hz(pcm: bytes, rate: int = 16000) -> float:
    samples = np.frombuffer(pcm, "<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_rates_are_resampled_keeping_pitch_and_length(tmp_path, rate):
    pcm = read_wav(write_wav(tmp_path / "a.wav", tone(rate, 1.0), rate))
    assert abs(len(pcm) // 2 - 16000) <= 2
    assert abs(dominant_hz(pcm) - 440) < 3


def test_stereo_is_mixed_to_mono(tmp_path):
    left = tone(16000, 0.5)
    stereo = np.stack([left, left], axis=1).reshape(-1)
    pcm = read_wav(write_wav(tmp_path / "s.wav", stereo, 16000, channels=2))
    assert len(pcm) // 2 == 8000 and np.array_equal(np.frombuffer(pcm, "<i2"), left)


def test_resample_is_identity_at_16k():
    pcm = tone(16000, 0.1).tobytes()
    assert resample(pcm, 16000) is pcm


def test_bad_input_gives_clear_errors(tmp_path):
    with pytest.raises(AudioInputError, match="no such file"):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("not audio at all")
    with pytest.raises(AudioInputError, match="not a PCM WAV file"):
        read_wav(tmp_path / "text.wav")
    eight_bit = write_wav(tmp_path / "8.wav", np.full(800, 128, dtype=np.uint8), 8000, width=1)
    with pytest.raises(AudioInputError, match="8-bit samples"):
        read_wav(eight_bit)
