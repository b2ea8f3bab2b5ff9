"""The simulated board: WAVs of any format become 16 kHz mono; the mic plays them in order, looped, in real time."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from device_sim import sim_hal
from device_sim.audio_files import AudioFileError, load_wav_16k_mono
from device_sim.earbud_link import advertising_data
from tests.sim.wavs import rms, write_tone_wav


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(sim_hal.time, "monotonic", fake.monotonic)
    return fake


def test_any_pcm_wav_becomes_16k_mono(tmp_path: Path) -> None:
    pcm = load_wav_16k_mono(write_tone_wav(tmp_path / "a.wav", seconds=1.0, rate=44100, channels=2, freq=440))
    assert len(pcm) // 2 == pytest.approx(16000, abs=2)
    assert rms(pcm) == pytest.approx(0.5 * 32767 / np.sqrt(2), rel=0.05)  # the tone survives resampling
    with wave.open(str(tmp_path / "u8.wav"), "wb") as wav:  # 8-bit WAV is unsigned
        wav.setnchannels(1), wav.setsampwidth(1), wav.setframerate(8000)
        wav.writeframes(bytes([128]) * 8000)
    assert rms(load_wav_16k_mono(tmp_path / "u8.wav")) < 1
    (tmp_path / "bad.wav").write_bytes(b"not a wav")
    with pytest.raises(AudioFileError, match="PCM WAV"):
        load_wav_16k_mono(tmp_path / "bad.wav")


def test_mic_plays_files_in_order_then_loops_in_real_time(tmp_path: Path, clock: FakeClock) -> None:
    one = np.full(320, 1000, dtype="<i2").tobytes()  # 20 ms of level 1000
    two = np.full(640, 2000, dtype="<i2").tobytes()  # 40 ms of level 2000
    hal = sim_hal.SimHal([one, two], tmp_path / "state.json")
    hal.mic_start()
    assert hal.mic_read(320) is None  # nothing captured yet
    levels = []
    for _ in range(6):
        clock.now += 0.020
        block = hal.mic_read(320)
        assert block is not None and hal.mic_read(320) is None  # exactly what 20 ms captures
        levels.append(int(np.frombuffer(block, dtype="<i2")[0]))
    assert levels == [1000, 2000, 2000, 1000, 2000, 2000]


def test_mic_is_silent_without_files_and_state_round_trips(tmp_path: Path, clock: FakeClock) -> None:
    hal = sim_hal.SimHal([], tmp_path / "state.json")
    hal.mic_start()
    clock.now += 0.5
    assert hal.mic_read(320) == bytes(640)
    assert hal.load_state() == {}
    hal.save_state({"quiet": True, "volume": 55})
    assert sim_hal.SimHal([], tmp_path / "state.json").load_state() == {"quiet": True, "volume": 55}


def test_advertising_data_fits_and_shortens_long_names() -> None:
    assert len(advertising_data("EP-1")) <= 31
    data = advertising_data("A very long earbud name")
    assert len(data) == 31 and b"A very l" in data
