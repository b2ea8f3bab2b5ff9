"""The live mic and speaker (device_sim/pyaudio_io.py) through real PortAudio -> ALSA -> PulseAudio null sinks:
resampling both ways, and overflow/underrun counting that never stops the stream."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from device_sim.pyaudio_io import PortAudio
from host.system.demo import write_wav
from tests.pyaudio.pulse_server import RATE, TEST_MIC, TEST_SPEAKER, PulseServer, stop_process

pytestmark = [pytest.mark.pyaudio, pytest.mark.e2e]  # a private audio server, and processes


def tone(freq: float, seconds: float, rate: int = RATE, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype("<i2")


def dominant_hz(samples: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def wait_until_playing(speaker) -> None:
    """Feed silence, as the earbud's tick does, until the card has started taking audio."""
    deadline = time.monotonic() + 5
    while not speaker.playing:
        assert time.monotonic() < deadline, "the speaker stream never started"
        speaker.write(bytes(640))
        time.sleep(0.02)


def wait_until_capturing(mic) -> None:
    """The stream takes a moment (up to ~1 s here) to start delivering."""
    deadline = time.monotonic() + 5
    while mic.read(320) is None:
        assert time.monotonic() < deadline, "the mic stream never started"
        time.sleep(0.01)


def loud(samples: np.ndarray, threshold: int = 1000) -> np.ndarray:
    """From the first to the last sample above `threshold`: the tone, as one stretch."""
    above = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return samples[above[0] : above[-1] + 1] if above.size else samples[:0]


def start_recording(server: PulseServer, raw: Path) -> subprocess.Popen:
    """Record the virtual speaker, once the recorder is actually taking audio (it writes silence meanwhile)."""
    recorder = server.record(raw)
    deadline = time.monotonic() + 5
    while raw.stat().st_size == 0:
        assert recorder.poll() is None and time.monotonic() < deadline, "the recorder never started"
        time.sleep(0.01)
    return recorder


def heard(recorder: subprocess.Popen, raw: Path) -> np.ndarray:
    """Stop recording; the loud stretch of what the speaker played."""
    stop_process(recorder)
    return loud(np.fromfile(raw, dtype="<i2"))


def play_in_real_time(speaker, pcm: np.ndarray) -> None:
    """Write `pcm` on the earbud's 20 ms tick, then half a second of silence (as between its replies)."""
    start = time.monotonic()
    for i in range(0, len(pcm), 320):
        speaker.write(pcm[i : i + 320].tobytes())
        time.sleep(max(0.0, start + (i + 320) / RATE - time.monotonic()))
    for _ in range(25):
        speaker.write(bytes(640))
        time.sleep(0.02)


@pytest.mark.parametrize("device_rate", [None, 44100, 48000])
def test_speaker_plays_16k_audio_at_the_device_rate(_use_pulse_server: PulseServer, tmp_path: Path, device_rate):
    raw = tmp_path / "speaker.raw"
    recorder = start_recording(_use_pulse_server, raw)
    with PortAudio() as portaudio:
        speaker = portaudio.open_speaker(TEST_SPEAKER, rate=device_rate)
        assert speaker.rate == (device_rate or RATE)  # the null sink takes 16 kHz, so it is opened at 16 kHz
        wait_until_playing(speaker)
        play_in_real_time(speaker, tone(440, 1.5))
        speaker.close()
    sound = heard(recorder, raw)
    assert 1.2 <= len(sound) / RATE <= 1.6
    assert abs(dominant_hz(sound) - 440) < 5


def test_mic_captures_at_the_device_rate_and_hands_out_16k(_use_pulse_server: PulseServer, tmp_path: Path):
    wav = tmp_path / "tone.wav"
    write_wav(wav, tone(660, 1.0, rate=22050).tobytes(), rate=22050)
    with PortAudio() as portaudio:
        mic = portaudio.open_mic(TEST_MIC, rate=48000)
        assert mic.rate == 48000
        mic.start()
        wait_until_capturing(mic)
        captured = bytearray()
        player = _use_pulse_server.play(wav)
        deadline = time.monotonic() + 1.8
        while time.monotonic() < deadline:
            while (chunk := mic.read(320)) is not None:
                assert len(chunk) == 640
                captured += chunk
            time.sleep(0.02)
        mic.close()
        assert mic.read(320) is None  # stopped: nothing more comes
        assert player.wait(5) == 0
    heard = loud(np.frombuffer(bytes(captured), dtype="<i2"))
    assert 0.7 <= len(heard) / RATE <= 1.2
    assert abs(dominant_hz(heard) - 660) < 5
    assert mic.overflows == 0


def test_an_unread_mic_counts_overflows_and_keeps_the_newest_audio():
    with PortAudio() as portaudio:
        mic = portaudio.open_mic(TEST_MIC)
        mic.start()
        wait_until_capturing(mic)
        time.sleep(1.2)  # nobody reads: the 0.5 s buffer overflows
        assert mic.overflows >= 1
        chunks = 0
        while mic.read(320) is not None:
            chunks += 1
        assert 20 <= chunks <= 26  # ~0.5 s kept, not 1.5 s
        time.sleep(0.3)
        assert mic.read(320) is not None  # still capturing
        mic.close()


def test_a_starved_speaker_counts_underruns_and_plays_on(_use_pulse_server: PulseServer, tmp_path: Path):
    raw = tmp_path / "speaker.raw"
    with PortAudio() as portaudio:
        speaker = portaudio.open_speaker(TEST_SPEAKER)
        wait_until_playing(speaker)
        assert speaker.underruns == 0
        for _ in range(10):
            speaker.write(tone(440, 0.02).tobytes())
        time.sleep(0.8)  # nothing more written: the card runs dry
        assert speaker.underruns >= 1
        # Recorded from here on: what the speaker plays once it is fed again.
        recorder = start_recording(_use_pulse_server, raw)
        play_in_real_time(speaker, tone(880, 0.6))
        assert speaker.stream.is_active()
        speaker.close()
    sound = heard(recorder, raw)
    assert 0.45 <= len(sound) / RATE <= 0.7
    assert abs(dominant_hz(sound) - 880) < 5


def test_a_device_without_16k_is_opened_at_its_default_rate(_use_pulse_server: PulseServer, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    """Laptop codecs often take only 44.1/48 kHz. The ALSA pulse plugin takes any rate, so the capability answer
    is the one thing faked here; the stream that follows is real and must still carry the right pitch."""
    raw = tmp_path / "speaker.raw"
    recorder = start_recording(_use_pulse_server, raw)
    with PortAudio() as portaudio:

        def only_44k(rate, **_kwargs):
            if rate != 44100:
                raise ValueError("Invalid sample rate")
            return True

        monkeypatch.setattr(portaudio.pa, "is_format_supported", only_44k)
        speaker = portaudio.open_speaker(TEST_SPEAKER)
        mic = portaudio.open_mic(TEST_MIC)
        assert speaker.rate == 44100 and mic.rate == 44100  # the devices' default rate
        mic.close()
        wait_until_playing(speaker)
        play_in_real_time(speaker, tone(1000, 1.0))
        speaker.close()
    sound = heard(recorder, raw)
    assert 0.8 <= len(sound) / RATE <= 1.1
    assert abs(dominant_hz(sound) - 1000) < 5
