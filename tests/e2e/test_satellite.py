"""The earbud as a Home Assistant satellite, end to end: radio, earbud and `earpiece run --wyoming PORT` are separate
processes; a client built from the real `wyoming` library plays Home Assistant's part over TCP, as Home Assistant's
Wyoming integration does (describe, run-satellite, the wake word's pipeline, transcript, synthesize and TTS audio,
a timer, pause-satellite) — and the earbud's quiet switch is stronger than its run-satellite.
"""

from __future__ import annotations

import asyncio
import socket
import wave

import numpy as np
import pytest
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.timer import TimerFinished, TimerStarted
from wyoming.tts import Synthesize

from host.pipeline.audio import read_wav, silence
from host.system.harness import BridgeProcess
from tests.e2e.conftest import LEAD_IN_S, voiced_segments
from tests.system_rig import NO_CONVERSATION_MODEL, System

pytestmark = pytest.mark.e2e

ANSWER = "Okay, I turned off the kitchen lights."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HomeAssistant:
    """Home Assistant's side of the satellite connection: what it was sent, kept in order."""

    def __init__(self, port: int):
        self.client = AsyncTcpClient("127.0.0.1", port)
        self.events: list = []
        self._reading: asyncio.Task | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> HomeAssistant:
        await self.client.connect()
        self._reading = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        self._reading.cancel()
        await self.client.disconnect()

    async def _read(self) -> None:
        while (event := await self.client.read_event()) is not None:
            self.events.append(event)
            self._arrived.set()

    async def send(self, *events) -> None:
        for event in events:
            await self.client.write_event(event.event())

    async def wait_for(self, kind: str, timeout: float, after: int = 0):
        """The first event of `kind` at index >= `after`."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events[after:]:
                    if event.type == kind:
                        return event
                self._arrived.clear()
                await self._arrived.wait()

    def count(self, kind: str, after: int = 0) -> int:
        return sum(event.type == kind for event in self.events[after:])


def tts_audio(speech_wav, text: str) -> tuple[bytes, int]:
    """espeak-ng saying `text`, as Home Assistant's TTS would send it (22050 Hz 16-bit mono)."""
    with wave.open(str(speech_wav(text, "en")), "rb") as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()


def test_home_assistant_hears_the_earbud_and_answers_in_the_ear(tmp_path, use_models, speak, speech_wav, engines):
    mic = silence(LEAD_IN_S) + speak("Hey Jarvis") + silence(0.4) + speak("Turn off the kitchen lights.") \
        + silence(10)
    loop_s = len(mic) / 32000
    port = free_port()
    system = System.start(tmp_path, use_models, mic, name="Earpiece-E2E", speaker=tmp_path / "speaker.wav",
                          config_toml='[privacy]\nstore_transcripts = true\n[wyoming]\narea = "Kitchen"\n'
                          + NO_CONVERSATION_MODEL, bridge=False)
    try:
        log = tmp_path / "bridge-0.log"
        system.bridge_logs.append(log)
        system.bridge = BridgeProcess(system.env, log, verbose=True, args=["--wyoming", str(port)])
        system.bridge.wait_connected()
        tts, tts_rate = tts_audio(speech_wav, ANSWER)
        question = asyncio.run(_as_home_assistant(system, port, tts, tts_rate, loop_s))
    finally:
        system.stop()

    # The question reached Home Assistant whole, after the wake word (and without it).
    assert 1.0 < len(question) / 32000 < 8.0
    heard = engines.asr.transcribe(question).lower()
    assert "kitchen" in heard and "jarvis" not in heard, heard
    # Home Assistant's answer played in the ear: its length, at a level well above the hiss.
    speaker = read_wav(system.speaker)
    expected = spoken(read_wav(speech_wav(ANSWER, "en")))
    # (The companion may also have answered a pass of the mic before run-satellite, or while paused: the answer is
    # the sound as long as Home Assistant's.)
    start, end = min(voiced_segments(speaker), key=lambda segment: abs(segment[1] - segment[0] - expected))
    assert expected - 0.3 < end - start < expected + 0.6, (end - start, expected)
    played = np.frombuffer(speaker[int(start * 16000) * 2:int(end * 16000) * 2], dtype="<i2").astype(float)
    assert np.sqrt(np.mean(played ** 2)) > 500
    text = system.bridge_text()
    assert f"Earpiece-E2E is a Wyoming satellite at 127.0.0.1:{port}" in text
    assert "Home Assistant heard 'turn off the kitchen lights'" in text  # transcripts kept: [privacy] says so
    assert "Home Assistant timer pasta rings" in text


def spoken(pcm: bytes) -> float:
    segments = voiced_segments(pcm)
    return segments[-1][1] - segments[0][0]


async def _as_home_assistant(system: System, port: int, tts: bytes, tts_rate: int, loop_s: float) -> bytes:
    async with HomeAssistant(port) as ha:
        # describe -> info: a satellite, in its area, with its own end-of-speech detection and its wake word.
        await ha.send(Describe())
        info = Info.from_event(await ha.wait_for("info", 5))
        assert info.satellite.name == "Earpiece-E2E" and info.satellite.area == "Kitchen"
        assert info.satellite.has_vad and info.satellite.active_wake_words == ["hey_jarvis"]

        # run-satellite; the wake word in the mic's next pass starts a pipeline and the question streams.
        await ha.send(RunSatellite())
        start = len(ha.events)
        await ha.wait_for("run-pipeline", 2 * loop_s + 10, start)
        await ha.wait_for("audio-stop", 15, start)
        kinds = [e.type for e in ha.events[start:] if e.type != "audio-chunk"]
        assert kinds[:3] == ["detection", "run-pipeline", "audio-start"] and kinds[3] == "audio-stop", kinds
        chunks = [AudioChunk.from_event(e) for e in ha.events[start:] if e.type == "audio-chunk"]
        assert {(c.rate, c.width, c.channels) for c in chunks} == {(16000, 2, 1)}
        question = b"".join(c.audio for c in chunks)

        # Home Assistant's answer: the transcript, the text, its audio; `played` once the earbud has played it.
        answer_s = len(tts) / 2 / tts_rate
        await ha.send(Transcript(text="turn off the kitchen lights"), Synthesize(text=ANSWER),
                      AudioStart(rate=tts_rate, width=2, channels=1))
        for offset in range(0, len(tts), 2048):
            await ha.send(AudioChunk(rate=tts_rate, width=2, channels=1, audio=tts[offset:offset + 2048]))
        sent_at = asyncio.get_running_loop().time()
        await ha.send(AudioStop())
        await ha.wait_for("played", answer_s + 10, start)
        assert asyncio.get_running_loop().time() - sent_at > answer_s - 0.6  # not before the earbud played it

        # A timer Home Assistant set rings in the ear (a second later, so the recording keeps the two sounds apart:
        # `played` is the bridge's estimate, the earbud may still be playing the last of its buffer).
        await asyncio.sleep(1.0)
        streams = len(system.earbud.read_stats()["speaker_stream_starts"])
        await ha.send(TimerStarted(id="t1", total_seconds=3, name="pasta"), TimerFinished(id="t1"))
        await asyncio.to_thread(system.wait_for, lambda: len(system.earbud.read_stats()["speaker_stream_starts"])
                                > streams, 15, "the timer to ring in the ear")

        # pause-satellite: the wake word in the next pass is the companion's; not one chunk goes out.
        await ha.send(PauseSatellite())
        paused = len(ha.events)
        wakes = system.bridge_text().count("wake word")
        await asyncio.to_thread(system.wait_for, lambda: system.bridge_text().count("wake word") > wakes,
                                loop_s + 10, "the wake word while paused")
        await asyncio.sleep(3)
        assert ha.count("audio-chunk", paused) == 0 and ha.count("run-pipeline", paused) == 0

        # The quiet switch: run-satellite does not lift it; a whole pass of the mic, and not one chunk.
        system.earbud.send("quiet on")
        await asyncio.to_thread(system.wait_for, lambda: system.status()["quiet_source"] == "switch", 10,
                                "the switch's quiet to reach the bridge")
        quiet = len(ha.events)
        await ha.send(RunSatellite(), Describe())
        info = Info.from_event(await ha.wait_for("info", 5, quiet))
        assert info.satellite.active_wake_words == []  # Home Assistant sees it muted
        await asyncio.sleep(loop_s + 2)
        assert ha.count("audio-chunk", quiet) == 0 and ha.count("run-pipeline", quiet) == 0
        return question
