"""The virtual radio models a real LE link: connection events, retransmissions in order, link loss."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bumble import hci
from bumble.device import Device
from bumble.gatt import Characteristic, Service
from bumble.transport import open_transport

from device_sim import __version__
from host.system.simulator import start_earbud, start_radio
from protocol import audio
from protocol import gatt as layout
from protocol.receiver import AudioReceiver
from tests.sim.central import TestCentral, characteristic, run
from tests.sim.wavs import write_tone_wav

pytestmark = pytest.mark.e2e  # every test here runs the radio (and earbuds) as processes

FRAME_INTERVAL_S = 0.020  # audio frames leave every 20 ms, as the earbud sends them
# An audio clock runs free of the radio's, so frames meet connection events at every phase. A period of exactly
# 20 ms against a 30 ms interval would only ever try three phases; 20.2 ms sweeps each of the three through the
# whole 30 ms, 0.6 ms apart, in 150 frames: the measured median then does not hinge on one lucky phase.
SWEEP_PERIOD_S = 0.0202
SWEEP_FRAMES = 150


async def _stream_timed_frames(transport_spec: str, count: int, period_s: float = FRAME_INTERVAL_S
                               ) -> tuple[dict[int, float], list[tuple[float, int]]]:
    """A bare Bumble peripheral notifies `count` real audio frames to a central, both in this process (one
    clock): returns the send time of each sequence number and the (arrival time, seq) list in arrival order."""
    transport = await open_transport(transport_spec)
    peripheral = Device.with_hci("timing-peripheral", hci.Address("C0:00:00:00:00:AA"), transport.source, transport.sink)
    audio_up = Characteristic(layout.AUDIO_UP_UUID, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b"")
    peripheral.add_service(Service(layout.SERVICE_UUID, [audio_up]))
    await peripheral.power_on()
    await peripheral.start_advertising(auto_restart=False)
    sent: dict[int, float] = {}
    arrivals: list[tuple[float, int]] = []
    try:
        async with TestCentral(transport_spec) as central:
            _, peer = await central.connect("C0:00:00:00:00:AA")
            await characteristic(peer, layout.AUDIO_UP_UUID).subscribe(
                lambda value: arrivals.append((time.monotonic(), audio.decode_frame(bytes(value)).seq))
            )
            await asyncio.sleep(0.1)
            connection = next(iter(peripheral.connections.values()))
            encoder = audio.FrameEncoder()
            next_send = time.monotonic()
            for _ in range(count):
                frame = encoder.encode(bytes(640))[0]
                sent[audio.decode_frame(frame).seq] = time.monotonic()
                await peripheral.notify_subscriber(connection, audio_up, frame)
                next_send += period_s
                await asyncio.sleep(max(0.0, next_send - time.monotonic()))
            deadline = time.monotonic() + 3
            while len(arrivals) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
    finally:
        await transport.close()
    return sent, arrivals


def test_30ms_interval_gives_realistic_one_way_latency(tmp_path: Path) -> None:
    with start_radio(interval_ms=30, log_dir=tmp_path) as radio:
        sent, arrivals = run(_stream_timed_frames(radio.transport_spec, SWEEP_FRAMES, SWEEP_PERIOD_S))
    assert [seq for _, seq in arrivals] == sorted(sent)
    latencies_ms = [(t - sent[seq]) * 1000 for t, seq in arrivals]
    # Frames wait for the next connection event (0..30 ms, evenly over the sweep): the median is ~15 ms plus
    # airtime, the radio's 1 ms latency and processing.
    assert statistics.median(latencies_ms) >= 15.0, latencies_ms


def test_retransmissions_delay_but_never_lose_or_reorder(tmp_path: Path) -> None:
    with start_radio(interval_ms=7.5, retransmit_prob=0.1, latency_ms=0, seed=7, log_dir=tmp_path) as radio:
        sent, arrivals = run(_stream_timed_frames(radio.transport_spec, 200))
    assert [seq for _, seq in arrivals] == sorted(sent)  # every frame, in order
    latencies_ms = sorted((t - sent[seq]) * 1000 for t, seq in arrivals)
    # Some frames missed their event and came one or more intervals late.
    assert latencies_ms[-1] >= statistics.median(latencies_ms) + 7.5


def test_earbud_stream_over_a_lossy_link_arrives_whole(tmp_path: Path) -> None:
    wav = write_tone_wav(tmp_path / "tone.wav", seconds=1.0)
    with start_radio(retransmit_prob=0.1, seed=3, log_dir=tmp_path) as radio, \
            start_earbud(radio, "EP-Lossy", state_dir=tmp_path / "bud", mic=[wav], passkey=246810) as bud:
        async def body() -> AudioReceiver:
            async with TestCentral(radio.transport_spec) as central:
                connection, peer = await central.connect(bud.address)
                central.passkey_source = lambda: 246810
                await connection.pair()
                receiver = AudioReceiver()
                await characteristic(peer, layout.AUDIO_UP_UUID).subscribe(lambda v: receiver.receive(bytes(v)))
                await asyncio.sleep(3.0)
                return receiver

        receiver = run(body())
    assert receiver.stats["received"] >= 100
    for counter in ("lost", "late", "duplicates", "resyncs", "malformed"):
        assert receiver.stats[counter] == 0, receiver.stats


def test_scheduled_cut_and_vanished_host_look_like_supervision_timeouts(tmp_path: Path) -> None:
    with start_radio(disconnect_every_s=1.0, log_dir=tmp_path) as radio, \
            start_earbud(radio, "EP-Cut", state_dir=tmp_path / "bud") as bud:
        async def cut() -> int:
            async with TestCentral(radio.transport_spec) as central:
                connection, _ = await central.connect(bud.address)
                reason: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                connection.on("disconnection", reason.set_result)
                code = await asyncio.wait_for(reason, 5)
                # The earbud advertises again after losing the link.
                await central.find(name="EP-Cut")
                return code

        assert run(cut()) == hci.HCI_CONNECTION_TIMEOUT_ERROR

    with start_radio(log_dir=tmp_path / "2") as radio:
        bud = start_earbud(radio, "EP-Gone", state_dir=tmp_path / "bud2")

        async def vanish() -> int:
            async with TestCentral(radio.transport_spec) as central:
                connection, _ = await central.connect(bud.address)
                reason: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                connection.on("disconnection", reason.set_result)
                bud.proc.kill()  # the earbud's process dies: its peer sees the link time out
                return await asyncio.wait_for(reason, 5)

        try:
            assert run(vanish()) == hci.HCI_CONNECTION_TIMEOUT_ERROR
        finally:
            bud.stop()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "device_sim.cli", *args], capture_output=True,
                          text=True, timeout=30)


def test_cli_version_help_and_bad_arguments(tmp_path: Path) -> None:
    assert _cli("--version").stdout.strip() == f"earpiece-sim {__version__}"
    assert "connection interval" in _cli("radio", "--help").stdout
    assert "passkey" in _cli("earbud", "--help").stdout
    bad = _cli("radio", "--port", "0", "--interval-ms", "2")
    assert bad.returncode != 0 and "interval" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    unreachable = _cli("earbud", "--radio", "127.0.0.1:1", "--name", "x", "--state-dir", str(tmp_path))
    assert unreachable.returncode == 1 and "earpiece-sim radio" in unreachable.stderr


def test_earbud_exits_with_a_clear_error_when_the_radio_goes_away(tmp_path: Path) -> None:
    radio = start_radio(log_dir=tmp_path)
    bud = start_earbud(radio, "EP-Alone", state_dir=tmp_path / "bud")
    try:
        radio.stop()
        assert bud.proc.wait(10) == 1
        assert "lost the radio" in bud.log_tail()
    finally:
        bud.stop()
        radio.stop()
