"""The satellite server alone (no radio, no earbud): a real `wyoming` client on 127.0.0.1 plays Home Assistant; the
earbud's downlink is a real DownlinkPacer whose frames are collected."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from dataclasses import replace

import pytest
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.timer import TimerFinished, TimerStarted

from host.bridge.downlink import DownlinkPacer
from host.config import Config, WyomingSettings
from host.wyoming import connection as connection_module
from host.pipeline.messages import WakeDetected
from host.wyoming.satellite import HOME_ASSISTANT_FAILED, EarbudSatellite
from host.wyoming.server import SatellitePortError, SatelliteServer
from host.wyoming.wire import MAX_HEADER_BYTES, MAX_PAYLOAD_BYTES



WAKE = WakeDetected("hey_jarvis_v0.1", 0.9, 3.0)


class Rig:
    def __init__(self, config: Config, verify=None):
        self.frames: list[bytes] = []
        self.spoken: list[str] = []
        self.quiet = False
        self.pacer = DownlinkPacer(self._frame)
        self.cues = 0
        self.verified: list[tuple[bytes, float]] = []

        async def cue() -> None:
            self.cues += 1

        def checked(window: bytes, at_s: float) -> bool:
            self.verified.append((window, at_s))
            return verify(window)

        self.satellite = EarbudSatellite("Earpiece-Test", config, self.pacer, self.spoken.append, lambda: self.quiet,
                                         cue, checked if verify else None,
                                         lambda wake: (b"\x01\x00" * 24000, b"\x02\x00" * 800))
        self.server = SatelliteServer(self.satellite, "127.0.0.1", 0)

    async def _frame(self, frame: bytes) -> None:
        self.frames.append(frame)

    async def client(self) -> AsyncTcpClient:
        client = AsyncTcpClient("127.0.0.1", self.server.port)
        await client.connect()
        return client


def with_rig(scenario, *args, verify=None) -> None:
    """Run `scenario(rig, *args)` against a started server, in a fresh event loop."""
    async def main() -> None:
        rig = Rig(replace(Config(), wyoming=WyomingSettings(area="Kitchen")), verify)
        await rig.server.start()
        pacing = asyncio.create_task(rig.pacer.run())
        try:
            await scenario(rig, *args)
        finally:
            pacing.cancel()
            await rig.server.stop()

    asyncio.run(main())


async def read(client: AsyncTcpClient, timeout: float = 3.0):
    return await asyncio.wait_for(client.read_event(), timeout)


async def until(client: AsyncTcpClient, kind: str, timeout: float = 5.0):
    async with asyncio.timeout(timeout):
        while (event := await client.read_event()) is not None:
            if event.type == kind:
                return event
    return None


def test_describe_and_ping():
    with_rig(_test_describe_and_ping)


async def _test_describe_and_ping(rig):
    client = await rig.client()
    await client.write_event(Describe().event())
    info = Info.from_event(await read(client))
    assert info.satellite.name == "Earpiece-Test" and info.satellite.installed
    assert info.satellite.area == "Kitchen" and info.satellite.has_vad
    assert info.satellite.active_wake_words == ["hey_jarvis"] and info.wake[0].models[0].phrase == "Hey Jarvis"
    await client.write_event(Ping(text="hi").event())
    assert Pong.from_event(await read(client)).text == "hi"
    await client.disconnect()


def test_wake_word_streams_until_the_transcript_and_pause_stops_it():
    with_rig(_test_wake_word_streams_until_the_transcript_and_pause_stops_it)


async def _test_wake_word_streams_until_the_transcript_and_pause_stops_it(rig):
    client = await rig.client()
    assert not rig.satellite.take_turn(WAKE)  # Home Assistant has not run the satellite
    await client.write_event(RunSatellite().event())
    await asyncio.sleep(0.1)
    assert rig.satellite.take_turn(WAKE)
    assert rig.satellite.hear(b"\x00\x01" * 512)
    kinds = [(await read(client)).type for _ in range(4)]
    assert kinds == ["detection", "run-pipeline", "audio-start", "audio-chunk"]
    await client.write_event(Transcript(text="turn off the kitchen lights").event())
    assert (await read(client)).type == "audio-stop"
    assert not rig.satellite.hear(b"\x00\x01" * 512)  # the turn is over: the mic is the session's again
    # Home Assistant failing the request: the user hears so.
    await client.write_event(Error(text="Intent not recognized", code="intent-failed").event())
    await asyncio.sleep(0.1)
    assert rig.spoken == [HOME_ASSISTANT_FAILED]
    # Paused: the wake word is the companion's, not one chunk goes out.
    await client.write_event(PauseSatellite().event())
    await asyncio.sleep(0.1)
    assert not rig.satellite.take_turn(WAKE)
    await client.disconnect()


def test_quiet_is_stronger_than_run_satellite():
    with_rig(_test_quiet_is_stronger_than_run_satellite)


async def _test_quiet_is_stronger_than_run_satellite(rig):
    client = await rig.client()
    rig.quiet = True
    await client.write_event(RunSatellite().event())
    await client.write_event(Describe().event())
    info = Info.from_event(await until(client, "info"))
    assert info.satellite.active_wake_words == []  # Home Assistant's view: muted
    assert not rig.satellite.take_turn(WAKE)
    # Quiet beginning mid-stream: an audio-stop, then nothing.
    rig.quiet = False
    assert rig.satellite.take_turn(WAKE)
    rig.quiet = True
    rig.satellite.quiet_changed(True)
    assert not rig.satellite.hear(b"\x00\x01" * 512)
    kinds = []
    with pytest.raises(TimeoutError):
        while True:
            kinds.append((await read(client, 0.5)).type)
    assert kinds == ["detection", "run-pipeline", "audio-start", "audio-stop", "info"]
    assert rig.satellite.stats["audio_chunks_sent"] == 0
    await client.disconnect()


def test_home_assistants_audio_plays_in_the_ear_then_played():
    with_rig(_test_home_assistants_audio_plays_in_the_ear_then_played)


async def _test_home_assistants_audio_plays_in_the_ear_then_played(rig):
    client = await rig.client()
    await client.write_event(RunSatellite().event())
    seconds = 0.6
    audio = (b"\x00\x20" * 11 + b"\x00\xe0" * 11) * int(22050 * seconds / 22)
    await client.write_event(AudioStart(rate=22050, width=2, channels=1).event())
    for offset in range(0, len(audio), 2048):
        await client.write_event(AudioChunk(rate=22050, width=2, channels=1, audio=audio[offset:offset + 2048]).event())
    await client.write_event(AudioStop().event())
    started = asyncio.get_running_loop().time()
    assert (await until(client, "played")) is not None
    waited = asyncio.get_running_loop().time() - started
    assert waited > seconds - 0.3  # it waited for the earbud to play it out
    frames_ms = len(rig.frames) * 20
    assert abs(frames_ms - seconds * 1000) <= 60, frames_ms
    # A timer Home Assistant set rings in the ear.
    await client.write_event(TimerStarted(id="t1", total_seconds=60, name="pasta").event())
    await client.write_event(TimerFinished(id="t1").event())
    await asyncio.sleep(0.2)
    assert rig.spoken == ["Your pasta timer is done."]
    await client.disconnect()


# ---- bad input --------------------------------------------------------------------------------------------------

BAD_INPUTS = {
    "garbage bytes": b"\x8a\x00\xff garbage \x01\x02\n",
    "not an object": b"[1, 2, 3]\n",
    "oversized header": b'{"type": "describe", "pad": "' + b"x" * (MAX_HEADER_BYTES + 10) + b'"}\n',
    "oversized payload": json.dumps({"type": "audio-chunk", "payload_length": MAX_PAYLOAD_BYTES + 1}).encode() + b"\n",
    "negative length": json.dumps({"type": "audio-chunk", "data_length": -5}).encode() + b"\n",
    "deeply nested": b"[" * 10000 + b"\n",
    "unknown event type": json.dumps({"type": "launch-missiles"}).encode() + b"\n",
    "impossible audio": json.dumps({"type": "audio-start", "data": {"rate": 0, "width": 5, "channels": 1}}).encode()
    + b"\n" + json.dumps({"type": "audio-chunk", "data": {"rate": 0, "width": 5, "channels": 1},
                           "payload_length": 4}).encode() + b"\n\x00\x01\x02\x03",
    "malformed timer": json.dumps({"type": "timer-finished", "data": {}}).encode() + b"\n",
}


@pytest.mark.parametrize("what", BAD_INPUTS)
def test_bad_input_closes_that_connection_with_one_log_line(what, caplog):
    with_rig(_test_bad_input_closes_that_connection_with_one_log_line, what, caplog)


async def _test_bad_input_closes_that_connection_with_one_log_line(rig, what, caplog):
    good = await rig.client()
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.server.port)
    with caplog.at_level(logging.ERROR, logger="host.wyoming"):
        writer.write(BAD_INPUTS[what])
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the server
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("host.wyoming")]
    assert len(lines) == 1 and "\n" not in lines[0] and "disconnected" in lines[0], lines
    writer.close()
    # The server and its other client go on.
    await good.write_event(Ping(text="still there").event())
    assert (await read(good)).type == "pong"
    await good.disconnect()


def test_a_client_that_never_reads_is_dropped_and_stalls_nobody(caplog, monkeypatch):
    with_rig(_test_a_client_that_never_reads_is_dropped_and_stalls_nobody, caplog, monkeypatch)


async def _test_a_client_that_never_reads_is_dropped_and_stalls_nobody(rig, caplog, monkeypatch):
    monkeypatch.setattr(connection_module, "WRITE_TIMEOUT_S", 1.0)
    stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", rig.server.port))
    stuck.setblocking(False)
    good = await rig.client()
    loop = asyncio.get_running_loop()
    with caplog.at_level(logging.ERROR, logger="host.wyoming"):
        # It asks and asks (megabytes of answers) and never reads one.
        await loop.sock_sendall(stuck, json.dumps({"type": "run-satellite"}).encode() + b"\n"
                               )
        asks = (json.dumps({"type": "describe"}).encode() + b"\n") * 20000
        sending = loop.create_task(loop.sock_sendall(stuck, asks))
        await asyncio.sleep(0.2)
        # Meanwhile the earbud's side never waits, and the other client is answered at once.
        started = loop.time()
        for _ in range(50):
            rig.satellite.hear(b"\x00\x00" * 512)
        assert loop.time() - started < 0.5  # a wait on the stuck peer takes WRITE_TIMEOUT_S (1 s)
        await good.write_event(Ping().event())
        assert (await read(good, 1.0)).type == "pong"
        async with asyncio.timeout(20):
            while rig.satellite.running:
                await asyncio.sleep(0.1)
    sending.cancel()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("host.wyoming")]
    assert len(lines) == 1 and "disconnected" in lines[0], lines
    assert not rig.satellite.running  # the stuck peer is gone
    stuck.close()
    await good.disconnect()


def test_a_pinging_client_gone_silent_is_dropped(caplog, monkeypatch):
    monkeypatch.setattr(connection_module, "PINGING_TIMEOUT_S", 0.5)
    with_rig(_test_a_pinging_client_gone_silent_is_dropped, caplog)


async def _test_a_pinging_client_gone_silent_is_dropped(rig, caplog):
    client = await rig.client()
    await client.write_event(RunSatellite().event())
    await client.write_event(Ping().event())
    assert (await read(client)).type == "pong"
    assert rig.satellite.running
    with caplog.at_level(logging.INFO, logger="host.wyoming"):
        await asyncio.sleep(1.0)  # Home Assistant would have pinged again by now
    assert not rig.satellite.running and not rig.satellite.take_turn(WAKE)  # the companion answers
    assert any("sent nothing" in r.getMessage() for r in caplog.records)
    await client.disconnect()


def test_a_taken_port_is_a_one_line_error():
    async def main():
        first = Rig(Config())
        await first.server.start()
        try:
            second = SatelliteServer(first.satellite, "127.0.0.1", first.server.port)
            with pytest.raises(SatellitePortError) as error:
                await second.start()
            assert f"127.0.0.1:{first.server.port}" in str(error.value) and "\n" not in str(error.value)
        finally:
            await first.server.stop()

    asyncio.run(main())


def test_a_wake_word_goes_to_home_assistant_only_once_verified():
    with_rig(_verified, verify=lambda window: b"\x07\x00" not in window)  # chunks of 7s: "not the phrase"


async def _verified(rig):
    client = await rig.client()
    await client.write_event(RunSatellite().event())
    await asyncio.sleep(0.1)
    # Verified: the audio held while the recognizer checked goes out at once, then the live audio.
    assert rig.satellite.take_turn(WAKE)
    for _ in range(30):  # 0.96 s: the check needs 0.8 s after the detection
        assert rig.satellite.hear(b"\x03\x00" * 512)
    await asyncio.sleep(0.2)
    assert rig.satellite.hear(b"\x04\x00" * 512)
    window, at_s = rig.verified[0]
    assert at_s == 1.5 and window.startswith(b"\x01\x00" * 24000 + b"\x02\x00" * 800)
    assert len(window) == int((1.5 + 0.8) * 16000) * 2  # 1.5 s before the detection, 0.8 s after
    kinds = [(await read(client)).type for _ in range(3)]
    assert kinds == ["detection", "run-pipeline", "audio-start"] and rig.cues == 1
    chunks = [AudioChunk.from_event(await read(client)).audio for _ in range(32)]
    assert chunks[0] == b"\x02\x00" * 800 and chunks[1] == b"\x03\x00" * 512 and chunks[31] == b"\x04\x00" * 512
    await client.write_event(Transcript(text="x").event())
    assert (await until(client, "audio-stop")) is not None
    # Rejected: not one event, no cue; the mic is the session's again.
    sent = rig.satellite.stats["audio_chunks_sent"]
    assert rig.satellite.take_turn(WAKE)
    for _ in range(30):
        rig.satellite.hear(b"\x07\x00" * 512)
    await asyncio.sleep(0.2)
    assert not rig.satellite.hear(b"\x05\x00" * 512)
    with pytest.raises(TimeoutError):
        await read(client, 0.5)
    assert rig.satellite.stats["audio_chunks_sent"] == sent and rig.cues == 1
    await client.disconnect()
