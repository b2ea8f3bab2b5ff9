"""`earpiece-sim audio-devices` and device selection, against the private PulseAudio server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from device_sim.pyaudio_io import AudioDeviceError, PortAudio, parse_device_spec
from tests.pyaudio.pulse_server import TEST_MIC, TEST_SPEAKER

pytestmark = [pytest.mark.pyaudio, pytest.mark.e2e]  # a private audio server, and processes


def earpiece_sim(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "device_sim.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_audio_devices_json_lists_the_virtual_devices():
    result = earpiece_sim("audio-devices", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1  # exactly one JSON object on one line; PortAudio's start-up noise stays off stdout
    listing = json.loads(lines[0])
    inputs = {d["name"]: d for d in listing["inputs"]}
    outputs = {d["name"]: d for d in listing["outputs"]}
    assert TEST_MIC in inputs and TEST_SPEAKER in outputs
    assert inputs[TEST_MIC]["max_input_channels"] > 0 and inputs[TEST_MIC]["host_api"] == "ALSA"
    assert sum(d["default_input"] for d in listing["inputs"]) == 1
    assert sum(d["default_output"] for d in listing["outputs"]) == 1


def test_audio_devices_text_lists_inputs_and_outputs():
    result = earpiece_sim("audio-devices")
    assert result.returncode == 0, result.stderr
    assert "input devices" in result.stdout and "output devices" in result.stdout
    assert TEST_MIC in result.stdout and TEST_SPEAKER in result.stdout
    assert "jack" not in result.stderr.lower()  # the library noise is kept in the debug log


def test_missing_mic_device_is_a_clear_error_listing_the_available_ones(tmp_path):
    result = earpiece_sim("earbud", "--radio", "127.0.0.1:9", "--name", "Bud", "--state-dir", str(tmp_path / "bud"),
                          "--mic", "pyaudio:no-such-microphone")
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("earpiece-sim earbud: no audio input device 'no-such-microphone'")
    assert TEST_MIC in message and "available input devices" in message
    assert "Traceback" not in result.stderr


def test_missing_speaker_device_is_a_clear_error(tmp_path):
    result = earpiece_sim("earbud", "--radio", "127.0.0.1:9", "--name", "Bud", "--state-dir", str(tmp_path / "bud"),
                          "--speaker", "pyaudio:no-such-speaker")
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert "no audio output device 'no-such-speaker'" in message and TEST_SPEAKER in message


def test_mic_files_and_pyaudio_cannot_be_mixed(tmp_path):
    result = earpiece_sim("earbud", "--radio", "127.0.0.1:9", "--name", "Bud", "--mic", "a.wav", "pyaudio")
    assert result.returncode == 2 and "not both" in result.stderr


def test_devices_are_found_by_index_name_or_part_of_a_name():
    with PortAudio() as portaudio:
        devices = {d.name: d for d in portaudio.devices()}
        mic = devices[TEST_MIC]
        assert portaudio.find(str(mic.index), "input") == mic
        assert portaudio.find(TEST_MIC, "input") == mic
        assert portaudio.find("test_mic", "input") == mic
        assert portaudio.find("", "input").default_input
        with pytest.raises(AudioDeviceError, match="ambiguous"):
            portaudio.find("earpiece_test", "output")


def test_device_specs():
    assert parse_device_spec("pyaudio") == ""
    assert parse_device_spec("pyaudio:3") == "3"
    assert parse_device_spec("pyaudio:USB Headset") == "USB Headset"
    assert parse_device_spec("hello.wav") is None
    assert parse_device_spec("pyaudiofile.wav") is None
