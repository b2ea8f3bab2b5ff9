"""The simulated earbud as a user's central sees it: advertising, GATT layout, security, pairing, audio, quiet."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from bumble import att
from bumble.core import UUID, ProtocolError
from bumble.pairing import PairingDelegate

from host.system.simulator import start_earbud
from protocol import audio, control
from protocol import gatt as layout
from protocol.receiver import AudioReceiver
from tests.sim.central import TestCentral, characteristic, run
from tests.sim.wavs import rms, write_tone_wav

pytestmark = pytest.mark.e2e  # every test here runs the radio and earbuds as processes

NAME = "EP-Test"  # short enough to advertise complete beside flags + 128-bit UUID


class AudioSink:
    """Audio-up notifications as the host would take them: raw values plus the protocol receiver's view."""

    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.receiver = AudioReceiver()
        self.pcm = bytearray()

    def __call__(self, value: bytes) -> None:
        self.values.append(bytes(value))
        self.pcm += self.receiver.receive(bytes(value))


async def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def _pair(central: TestCentral, bud, connection) -> None:
    start = len(bud.lines)
    central.passkey_source = lambda: bud.wait_for_passkey(start=start)  # the user types what they hear
    await connection.pair()


def test_advertises_flags_service_and_name_in_primary_data(radio, tmp_path: Path) -> None:
    long_name = "Earpiece-Sim-Kitchen"  # does not fit beside flags + 128-bit UUID: must be shortened
    with start_earbud(radio, NAME, state_dir=tmp_path / "a"), start_earbud(radio, long_name, state_dir=tmp_path / "b"):
        async def body() -> None:
            async with TestCentral(radio.transport_spec) as central:
                ad = await central.find(name=NAME, service_uuid=layout.SERVICE_UUID)
                assert ad.data.get(ad.data.COMPLETE_LOCAL_NAME) == NAME
                flags = ad.data.get(ad.data.FLAGS)
                assert flags & 0x02 and flags & 0x04  # LE General Discoverable, BR/EDR not supported
                assert ad.address.is_static and ad.address.is_random

                short = await central.find(service_uuid=layout.SERVICE_UUID, name="Earpiece")
                assert short.data.get(short.data.COMPLETE_LOCAL_NAME) is None
                assert long_name.startswith(short.data.get(short.data.SHORTENED_LOCAL_NAME))
                assert len(short.data_bytes) <= 31

        run(body())


def test_gatt_layout_and_open_services(radio, tmp_path: Path) -> None:
    with start_earbud(radio, NAME, state_dir=tmp_path / "bud") as bud:
        async def body() -> None:
            async with TestCentral(radio.transport_spec) as central:
                connection, peer = await central.connect(bud.address)
                service_uuids = {s.uuid for s in peer.services}
                assert UUID(layout.SERVICE_UUID) in service_uuids
                assert UUID.from_16_bits(layout.BATTERY_SERVICE_UUID) in service_uuids
                assert UUID.from_16_bits(layout.DEVICE_INFO_SERVICE_UUID) in service_uuids
                props = {
                    layout.AUDIO_UP_UUID: 0x10,  # notify
                    layout.AUDIO_DOWN_UUID: 0x04,  # write without response
                    layout.CONTROL_UUID: 0x08,  # write
                    layout.STATUS_UUID: 0x02 | 0x10,  # read, notify
                }
                for uuid, expected in props.items():
                    assert int(characteristic(peer, uuid).properties) == expected, uuid
                # Device Information and Battery need no pairing.
                assert await characteristic(peer, layout.MANUFACTURER_NAME_UUID).read_value() == b"Earpiece"
                assert await characteristic(peer, layout.MODEL_NUMBER_UUID).read_value() == b"EP-SIM"
                assert await characteristic(peer, layout.FIRMWARE_REVISION_UUID).read_value() == b"0.1.0"
                battery = await characteristic(peer, layout.BATTERY_LEVEL_UUID).read_value()
                assert len(battery) == 1 and 0 <= battery[0] <= 100

        run(body())


@pytest.mark.parametrize("how", ["unpaired", "just_works"])
def test_audio_and_control_refused_without_mitm_bond(radio, tmp_path: Path, tone_wav: Path, how: str) -> None:
    with start_earbud(radio, NAME, state_dir=tmp_path / "bud", mic=[tone_wav]) as bud:
        async def body() -> None:
            io = (PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT if how == "just_works"
                  else PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY)
            async with TestCentral(radio.transport_spec, io=io) as central:
                connection, peer = await central.connect(bud.address)
                if how == "just_works":
                    await connection.pair()  # bonds (the earbud is in pairing mode) but without MITM
                    assert connection.is_encrypted
                sink = AudioSink()
                status_values: list[bytes] = []
                for uuid, handler in ((layout.AUDIO_UP_UUID, sink), (layout.STATUS_UUID, status_values.append)):
                    with pytest.raises(att.ATT_Error) as refused:
                        await characteristic(peer, uuid).subscribe(handler)
                    assert refused.value.error_code == att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR
                with pytest.raises(att.ATT_Error) as refused:
                    await characteristic(peer, layout.STATUS_UUID).read_value()
                assert refused.value.error_code == att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR
                with pytest.raises(att.ATT_Error) as refused:
                    await characteristic(peer, layout.CONTROL_UUID).write_value(
                        control.GetStatus().encode(), with_response=True)
                assert refused.value.error_code == att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR
                # The public read-only characteristics cannot be overwritten: ATT error 0x03, the value kept.
                for uuid in (layout.BATTERY_LEVEL_UUID, layout.MODEL_NUMBER_UUID):
                    before = await characteristic(peer, uuid).read_value()
                    with pytest.raises(att.ATT_Error) as refused:
                        await asyncio.wait_for(characteristic(peer, uuid).write_value(b"\x07", with_response=True), 5)
                    assert refused.value.error_code == att.ATT_WRITE_NOT_PERMITTED_ERROR
                    assert await characteristic(peer, uuid).read_value() == before
                # Audio down without a bond is dropped, not played.
                frame = audio.FrameEncoder().encode(bytes(640))[0]
                await characteristic(peer, layout.AUDIO_DOWN_UUID).write_value(frame, with_response=False)
                await asyncio.sleep(1.0)  # the mic would have produced ~50 frames by now
                assert sink.values == [] and status_values == []

        run(body())
        stats = bud.read_stats()
        assert stats["audio_frames_sent"] == 0
        assert stats["audio_frames_received"] == 0
        assert stats["att_refused"] >= 5


def test_passkey_pairing_then_audio_flows_and_bond_survives_restarts(radio, tmp_path: Path, tone_wav: Path) -> None:
    state = tmp_path / "bud"
    keys = tmp_path / "central-keys.json"
    with start_earbud(radio, NAME, state_dir=state, mic=[tone_wav], speaker=tmp_path / "speaker.wav") as bud:
        address = bud.address

        async def pair_and_listen() -> None:
            async with TestCentral(radio.transport_spec, str(keys)) as central:
                connection, peer = await central.connect(bud.address)
                await _pair(central, bud, connection)
                sink = AudioSink()
                await characteristic(peer, layout.AUDIO_UP_UUID).subscribe(sink)
                await _wait_for(lambda: len(sink.values) >= 50)
                assert sink.receiver.stats["malformed"] == 0
                assert sink.receiver.stats["lost"] == 0
                frames = [audio.decode_frame(v) for v in sink.values]
                assert frames[0].flags & audio.FLAG_START
                assert [f.seq for f in frames] == list(range(frames[0].seq, frames[0].seq + len(frames)))
                assert rms(bytes(sink.pcm[3200:])) > 5000  # the 0.5 FS tone (rms ~11600), not silence
                # Control works on the authenticated link: PING -> PONG on status.
                replies: list[bytes] = []
                await characteristic(peer, layout.STATUS_UUID).subscribe(replies.append)
                await characteristic(peer, layout.CONTROL_UUID).write_value(
                    control.Ping(1234).encode(), with_response=True)
                await _wait_for(lambda: any(control.Pong(1234) in control.decode_messages(v) for v in replies))

        run(pair_and_listen())
        # The wearer heard the passkey: the speaker file holds sound (spoken digits), not only silence.
        import wave

        with wave.open(str(tmp_path / "speaker.wav"), "rb") as wav:
            assert wav.getframerate() == 16000
            assert rms(wav.readframes(wav.getnframes())) > 100

    # Both sides restart: the bond (keys, address) is kept; the central encrypts without pairing again.
    with start_earbud(radio, NAME, state_dir=state, mic=[tone_wav]) as bud:
        assert bud.address == address

        async def reconnect() -> None:
            async with TestCentral(radio.transport_spec, str(keys)) as central:
                connection, peer = await central.connect(bud.address)
                await connection.encrypt()
                sink = AudioSink()
                await characteristic(peer, layout.AUDIO_UP_UUID).subscribe(sink)
                await _wait_for(lambda: len(sink.values) >= 10)

        run(reconnect())
        assert not any(line.startswith("passkey:") for line in bud.lines)  # no pairing happened
        assert bud.read_stats()["pairing_mode"] is False  # a bonded earbud boots out of pairing mode


def test_wrong_passkey_fails_and_a_retry_succeeds(radio, tmp_path: Path) -> None:
    with start_earbud(radio, NAME, state_dir=tmp_path / "bud") as bud:
        async def body() -> None:
            async with TestCentral(radio.transport_spec) as central:
                connection, peer = await central.connect(bud.address)
                start = len(bud.lines)
                central.passkey_source = lambda: (bud.wait_for_passkey(start=start) + 1) % 1_000_000
                with pytest.raises(ProtocolError) as failure:
                    await connection.pair()
                assert failure.value.error_name == "CONFIRM_VALUE_FAILED"
                assert not connection.is_encrypted
                # The earbud drops the link after a failed pairing but stays in pairing mode: reconnect, retype.
                await _wait_for(lambda: connection.handle not in central.device.connections)
                connection, peer = await central.connect(bud.address)
                await _pair(central, bud, connection)
                status = control.decode_messages(await characteristic(peer, layout.STATUS_UUID).read_value())[0]
                assert isinstance(status, control.Status) and not status.pairing

        run(body())


def test_pairing_refused_outside_pairing_mode(radio, tmp_path: Path) -> None:
    state = tmp_path / "bud"
    with start_earbud(radio, NAME, state_dir=state) as bud:
        async def first_bond() -> None:
            async with TestCentral(radio.transport_spec, address="E0:00:00:00:00:02") as central:
                connection, _ = await central.connect(bud.address)
                await _pair(central, bud, connection)

        run(first_bond())

        async def stranger() -> None:
            async with TestCentral(radio.transport_spec, address="E0:00:00:00:00:03") as central:
                connection, _ = await central.connect(bud.address)
                central.passkey_source = lambda: 123456  # a guess: the earbud is not even asking
                start = len(bud.lines)
                with pytest.raises(ProtocolError) as refusal:
                    await connection.pair()
                assert refusal.value.error_namespace == "smp"
                assert not [line for line in bud.lines[start:] if line.startswith("passkey")]  # none spoken

        run(stranger())
        assert bud.fresh_stats().get("pairings", 0) == 1  # rewritten since the stranger's attempt


def test_quiet_switch_stops_audio_notifications(radio, tmp_path: Path, tone_wav: Path) -> None:
    with start_earbud(radio, NAME, state_dir=tmp_path / "bud", mic=[tone_wav]) as bud:
        async def body() -> None:
            async with TestCentral(radio.transport_spec) as central:
                connection, peer = await central.connect(bud.address)
                await _pair(central, bud, connection)
                sink = AudioSink()
                statuses: list[control.Status] = []

                def on_status(value: bytes) -> None:
                    statuses.extend(m for m in control.decode_messages(value) if isinstance(m, control.Status))

                await characteristic(peer, layout.STATUS_UUID).subscribe(on_status)
                await characteristic(peer, layout.AUDIO_UP_UUID).subscribe(sink)
                await _wait_for(lambda: len(sink.values) >= 10)

                bud.send("quiet on")
                await _wait_for(lambda: any(s.quiet for s in statuses))
                assert statuses[-1].quiet_source == control.QUIET_SOURCE_SWITCH
                await asyncio.sleep(0.2)  # frames already on the air may still land
                count = len(sink.values)
                await asyncio.sleep(1.0)
                assert len(sink.values) == count  # not one frame while quiet

                bud.send("quiet off")
                await _wait_for(lambda: len(sink.values) >= count + 10)

        run(body())
    stats = bud.read_stats()  # written a last time when the earbud stops
    assert stats["quiet"] is False and stats["quiet_frames_suppressed"] > 0
    assert stats["audio_frames_sent"] >= 20


def test_audio_down_plays_into_the_speaker_file_and_console_controls(radio, tmp_path: Path) -> None:
    speaker = tmp_path / "speaker.wav"
    with start_earbud(radio, NAME, state_dir=tmp_path / "bud", speaker=speaker, passkey=112233) as bud:
        async def body() -> None:
            async with TestCentral(radio.transport_spec) as central:
                connection, peer = await central.connect(bud.address)
                central.passkey_source = lambda: 112233
                await connection.pair()
                await asyncio.sleep(1.5)  # let the spoken passkey finish, so only the reply is loud below
                mark = _wav_frames(speaker)
                # A one-second 1 kHz reply, paced like the host paces it.
                tone = write_tone_wav(tmp_path / "reply.wav", seconds=1.0, rate=16000, channels=1, freq=1000)
                import wave

                with wave.open(str(tone), "rb") as wav:
                    pcm = wav.readframes(wav.getnframes())
                encoder = audio.FrameEncoder()
                frames = encoder.encode(pcm) + encoder.flush()
                down = characteristic(peer, layout.AUDIO_DOWN_UUID)
                for frame in frames:
                    await down.write_value(frame, with_response=False)
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.5)
                played = _wav_pcm(speaker)[2 * mark:]
                assert rms(played) > 3000  # the reply reached the wearer's ear (volume 80 %)

                # Console: battery level shows on the Battery service; a long press re-enters pairing mode.
                bud.send("battery 42")
                level = characteristic(peer, layout.BATTERY_LEVEL_UUID)
                deadline = asyncio.get_running_loop().time() + 3
                while (await level.read_value()) != bytes([42]):
                    assert asyncio.get_running_loop().time() < deadline, "battery level never showed 42"
                    await asyncio.sleep(0.2)
                bud.send("long")
                bud.wait_for_line(r"pairing mode")
                status = control.decode_messages(await characteristic(peer, layout.STATUS_UUID).read_value())[0]
                assert status.pairing

        run(body())
    stats = bud.read_stats()
    assert stats["audio_frames_received"] == 51 and stats["audio_frames_malformed"] == 0
    assert stats["battery"] == 42 and stats["pairing_mode"] is True


def _wav_pcm(path: Path) -> bytes:
    import wave

    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes())


def _wav_frames(path: Path) -> int:
    return len(_wav_pcm(path)) // 2


def test_quiet_switch_position_and_settings_survive_a_restart(radio, tmp_path: Path) -> None:
    state = tmp_path / "bud"
    with start_earbud(radio, NAME, state_dir=state) as bud:
        bud.send("quiet on")
        bud.wait_for_line(r"^quiet switch on$")
    with start_earbud(radio, NAME, state_dir=state) as bud:
        bud.send("status")
        status = json.loads(bud.wait_for_line(r"^status: (.*)$").group(1))
        assert status["quiet"] is True and status["quiet_source"] == control.QUIET_SOURCE_SWITCH
        assert status["pairing_mode"] is True  # still no bond: pairing mode again
