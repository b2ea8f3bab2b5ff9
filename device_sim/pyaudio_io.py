"""The computer's own microphone and speakers as the simulated earbud's mic and speaker, through PyAudio.

`--mic pyaudio[:DEVICE]` / `--speaker pyaudio[:DEVICE]`: DEVICE is an index or (part of) a name from
`earpiece-sim audio-devices`; without it the system default is used. Devices are opened at 16 kHz mono when they
support it, else at their default rate and resampled with soxr. The audio callbacks run on PortAudio's thread and
only move bytes through a locked buffer; the earbud's 20 ms tick reads and writes those buffers. Input overflows
and output underruns are counted, never fatal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from typing import Literal

import numpy as np
import soxr

from device_sim.audio_files import SAMPLE_RATE

logger = logging.getLogger(__name__)

SPEC_PREFIX = "pyaudio"
Direction = Literal["input", "output"]
# A microphone buffer further behind than this loses its oldest audio (counted), as the HAL's DMA ring does.
MIC_BUFFER_SAMPLES = SAMPLE_RATE // 2
# Speaker: start playing once this much is queued (absorbs the tick's timing jitter) ...
SPEAKER_PREFILL_MS = 80
# ... and never queue more than this (the tick and the sound card run on different clocks: drop, count).
SPEAKER_MAX_BUFFER_MS = 400
CALLBACK_MS = 10


class AudioDeviceError(RuntimeError):
    """A sound device that cannot be used; the message says which ones can."""


@dataclasses.dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float
    default_input: bool = False
    default_output: bool = False

    def can(self, direction: Direction) -> bool:
        return (self.max_input_channels if direction == "input" else self.max_output_channels) > 0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def parse_device_spec(text: str) -> str | None:
    """"pyaudio" -> "" (the default device), "pyaudio:NAME" -> "NAME", anything else (a WAV path) -> None."""
    if text == SPEC_PREFIX:
        return ""
    if text.startswith(SPEC_PREFIX + ":"):
        return text[len(SPEC_PREFIX) + 1 :].strip()
    return None


@contextlib.contextmanager
def _stderr_to_log() -> Iterator[None]:
    """PortAudio probes ALSA, JACK and OSS when it starts and their libraries write noise straight to fd 2
    ("jack server is not running", "ALSA lib ..."); keep it off the user's terminal, in the debug log instead."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            noise = sink.read().decode(errors="replace").strip()
            if noise:
                logger.debug("PortAudio start-up messages:\n%s", noise)


class PortAudio:
    """One PortAudio session: lists devices and opens the live mic and speaker. Close it when done."""

    def __init__(self) -> None:
        import pyaudio  # here, not at the top: only a live mic or speaker needs PortAudio

        self._pyaudio = pyaudio
        with _stderr_to_log():
            try:
                self.pa = pyaudio.PyAudio()
            except OSError as error:
                raise AudioDeviceError(f"cannot start PortAudio ({error}); is a sound server or card available?") from error

    def close(self) -> None:
        with _stderr_to_log():
            self.pa.terminate()

    def __enter__(self) -> PortAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def devices(self) -> list[AudioDevice]:
        pa = self.pa
        try:
            default_in = pa.get_default_input_device_info()["index"]
        except OSError:
            default_in = None
        try:
            default_out = pa.get_default_output_device_info()["index"]
        except OSError:
            default_out = None
        found = []
        for index in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(index)
            found.append(AudioDevice(
                index=index,
                name=str(info["name"]),
                host_api=str(pa.get_host_api_info_by_index(info["hostApi"])["name"]),
                max_input_channels=int(info["maxInputChannels"]),
                max_output_channels=int(info["maxOutputChannels"]),
                default_sample_rate=float(info["defaultSampleRate"]),
                default_input=index == default_in,
                default_output=index == default_out,
            ))
        return found

    def find(self, spec: str, direction: Direction) -> AudioDevice:
        """The device `spec` names: "" = the default, an index, an exact name, or a unique part of a name."""
        usable = [d for d in self.devices() if d.can(direction)]
        if not usable:
            raise AudioDeviceError(f"no audio {direction} devices found; connect a "
                                   f"{'microphone' if direction == 'input' else 'speaker or headphones'} "
                                   "or start a sound server (PulseAudio/PipeWire)")
        if spec == "":
            default = next((d for d in usable if (d.default_input if direction == "input" else d.default_output)), None)
            if default is None:
                raise AudioDeviceError(f"no default audio {direction} device; pick one with pyaudio:DEVICE from: "
                                       + _describe(usable))
            return default
        if spec.isdigit():
            match = [d for d in usable if d.index == int(spec)]
        else:
            match = [d for d in usable if d.name == spec] or [d for d in usable if spec.lower() in d.name.lower()]
        if len(match) == 1:
            return match[0]
        if not match:
            raise AudioDeviceError(f"no audio {direction} device {spec!r}; available {direction} devices: "
                                   + _describe(usable))
        raise AudioDeviceError(f"audio {direction} device {spec!r} is ambiguous; use the index or full name of one of: "
                               + _describe(match))

    def device_rate(self, device: AudioDevice, direction: Direction, channels: int) -> int:
        """16 kHz when the device takes it, else its default rate (we resample)."""
        pa, fmt = self.pa, self._pyaudio.paInt16
        kwargs = ({"input_device": device.index, "input_channels": channels, "input_format": fmt}
                  if direction == "input" else
                  {"output_device": device.index, "output_channels": channels, "output_format": fmt})
        with _stderr_to_log():
            try:
                if pa.is_format_supported(SAMPLE_RATE, **kwargs):
                    return SAMPLE_RATE
            except ValueError:
                pass
        return int(device.default_sample_rate)

    def open_mic(self, spec: str, rate: int | None = None) -> LiveMic:
        return LiveMic(self, self.find(spec, "input"), rate)

    def open_speaker(self, spec: str, rate: int | None = None) -> LiveSpeaker:
        return LiveSpeaker(self, self.find(spec, "output"), rate)


def _describe(devices: list[AudioDevice]) -> str:
    return "; ".join(f"{d.index}: {d.name}" for d in devices)


def list_devices() -> list[AudioDevice]:
    with PortAudio() as pa:
        return pa.devices()


def _open_stream(portaudio: PortAudio, device: AudioDevice, direction: Direction, rate: int, owner: LiveMic | LiveSpeaker,
                 channels: int | None = None):
    """Open and start a 16-bit stream, mono if the device allows it (else its first two channels).

    Streams are always opened running: PortAudio 19.6's ALSA backend often never calls back a stream opened
    paused and started later (seen with the PulseAudio plugin), so a stopped stream is closed, not paused."""
    pyaudio = portaudio._pyaudio
    most = device.max_input_channels if direction == "input" else device.max_output_channels
    errors = []
    for count in [channels] if channels else dict.fromkeys((1, min(2, most))):
        kwargs = {"input": True, "input_device_index": device.index} if direction == "input" else \
                 {"output": True, "output_device_index": device.index}
        owner.channels = count  # set first: the callback starts running before open() returns
        with _stderr_to_log():
            try:
                return portaudio.pa.open(format=pyaudio.paInt16, channels=count, rate=rate,
                                         frames_per_buffer=max(1, rate * CALLBACK_MS // 1000),
                                         stream_callback=owner._callback, **kwargs)
            except (OSError, ValueError) as error:
                errors.append(f"{count} channel(s): {error}")
    raise AudioDeviceError(f"cannot open audio {direction} device {device.index}: {device.name} at {rate} Hz "
                           f"({'; '.join(errors)}); pick another with pyaudio:DEVICE (see `earpiece-sim audio-devices`)")


def _close_stream(stream) -> None:
    with _stderr_to_log():
        try:
            stream.stop_stream()
        finally:
            stream.close()


class LiveMic:
    """A real microphone as the HAL's mic: `read(n)` hands out 16 kHz mono PCM16 captured since `start()`.

    The device is open only between start() and stop(): quiet means the microphone is really off."""

    def __init__(self, portaudio: PortAudio, device: AudioDevice, rate: int | None = None) -> None:
        self.device = device
        self._portaudio = portaudio
        self._pyaudio = portaudio._pyaudio
        self.rate = rate or portaudio.device_rate(device, "input", 1)
        self.overflows = 0  # input overflows reported by the device + times audio was dropped because nobody read it
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._resampler = None if self.rate == SAMPLE_RATE else soxr.ResampleStream(self.rate, SAMPLE_RATE, 1, dtype="int16")
        self._behind = False
        # Open once now so a device that cannot be used fails at start-up, with the message, not mid-conversation.
        self.channels = 1
        _close_stream(_open_stream(portaudio, device, "input", self.rate, self))
        self.stream = None

    def _callback(self, in_data: bytes | None, frame_count: int, time_info: dict, status: int) -> tuple:
        if status & self._pyaudio.paInputOverflow:
            self.overflows += 1
        if in_data:
            samples = np.frombuffer(in_data, dtype="<i2")
            if self.channels > 1:
                samples = samples.reshape(-1, self.channels).mean(axis=1).astype("<i2")
            if self._resampler is not None:
                samples = self._resampler.resample_chunk(samples)
            with self._lock:
                self._buffer += samples.tobytes()
                excess = len(self._buffer) - 2 * MIC_BUFFER_SAMPLES
                if excess > 0:
                    del self._buffer[:excess]
                    if not self._behind:  # one count per episode of the reader falling behind
                        self.overflows += 1
                self._behind = excess > 0
        return None, self._pyaudio.paContinue

    def start(self) -> None:
        """Power the mic up: it has captured nothing yet."""
        if self.stream is not None:
            return
        with self._lock:
            self._buffer.clear()
        if self._resampler is not None:
            self._resampler.clear()
        self.stream = _open_stream(self._portaudio, self.device, "input", self.rate, self, self.channels)

    def stop(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            _close_stream(stream)
        with self._lock:
            self._buffer.clear()

    def read(self, n_samples: int) -> bytes | None:
        with self._lock:
            if self.stream is None or len(self._buffer) < 2 * n_samples:
                return None
            pcm = bytes(self._buffer[: 2 * n_samples])
            del self._buffer[: 2 * n_samples]
        return pcm

    def close(self) -> None:
        self.stop()


class LiveSpeaker:
    """Real speakers/headphones as the earbud's speaker: `write(pcm)` queues 16 kHz PCM16 for the sound card.

    The stream runs from the start; it plays silence until SPEAKER_PREFILL_MS is queued, and again after an
    underrun until the queue refills (so one late tick costs one counted gap, not a crackle per callback)."""

    def __init__(self, portaudio: PortAudio, device: AudioDevice, rate: int | None = None) -> None:
        self.device = device
        self._pyaudio = portaudio._pyaudio
        self.rate = rate or portaudio.device_rate(device, "output", 1)
        self.underruns = 0  # the card wanted audio and none was queued (or it reported an underflow)
        self.dropped_ms = 0.0  # audio thrown away because the queue was full (the two clocks drifted apart)
        self._lock = threading.Lock()
        self._buffer = bytearray()  # mono PCM16 at the device rate
        self._resampler = None if self.rate == SAMPLE_RATE else soxr.ResampleStream(SAMPLE_RATE, self.rate, 1, dtype="int16")
        self._prefill = 2 * self.rate * SPEAKER_PREFILL_MS // 1000
        self._max = 2 * self.rate * SPEAKER_MAX_BUFFER_MS // 1000
        self._playing = False
        self.channels = 1
        self.stream = _open_stream(portaudio, device, "output", self.rate, self)

    def _callback(self, in_data: bytes | None, frame_count: int, time_info: dict, status: int) -> tuple:
        want = 2 * frame_count
        with self._lock:
            if status & self._pyaudio.paOutputUnderflow and self._playing:
                self.underruns += 1
            if not self._playing and len(self._buffer) >= self._prefill:
                self._playing = True
            pcm = b""
            if self._playing:
                pcm = bytes(self._buffer[:want])
                del self._buffer[:want]
                if len(pcm) < want:
                    self.underruns += 1
                    self._playing = False
        pcm += bytes(want - len(pcm))
        if self.channels > 1:
            pcm = np.repeat(np.frombuffer(pcm, dtype="<i2"), self.channels).tobytes()
        return pcm, self._pyaudio.paContinue

    @property
    def playing(self) -> bool:
        """The card is taking audio (False while it starts up, and after an underrun until the queue refills)."""
        return self._playing

    def write(self, pcm: bytes) -> None:
        samples = np.frombuffer(pcm, dtype="<i2")
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        with self._lock:
            self._buffer += samples.astype("<i2").tobytes()
            # Until the card plays (it takes a moment to start), keep only the newest prefill's worth: that is
            # what a speaker just powered up would play first. Past that, a full queue means drifting clocks.
            excess = len(self._buffer) - (self._max if self._playing else self._prefill)
            if excess > 0:
                del self._buffer[:excess]
                if self._playing:
                    self.dropped_ms += 1000 * excess / 2 / self.rate

    def close(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            _close_stream(stream)
