"""`earpiece-sim swarm`: many earbuds in one process, each advertising, pairing with the fixed passkey and
streaming the WAV's pre-encoded frames with sequence numbers of its own."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from device_sim.earbud import TICK_SAMPLES, EarbudOptions
from device_sim.sim_hal import SimHal
from device_sim.swarm import SwarmEarbud, encode_clip
from earbud.core import EarbudCore
from host.system.simulator import SimProcess
from protocol import gatt as layout
from protocol.audio import CODEC_ADPCM, FLAG_START, FrameEncoder, decode_frame
from tests.sim.central import TestCentral, characteristic, run
from tests.sim.wavs import write_tone_wav

PASSKEY = 314159


def start_swarm(radio, tmp_path: Path, count: int, mic: Path) -> SimProcess:
    swarm = SimProcess(["swarm", "--radio", radio.address, "--count", str(count), "--mic", str(mic),
                        "--state-dir", str(tmp_path / "swarm"), "--passkey", str(PASSKEY),
                        "--stats", str(tmp_path / "swarm.json")], tmp_path / "swarm.log")
    swarm.wait_for_line(rf"^swarm of {count} earbuds advertising$", 60)
    return swarm


@pytest.mark.e2e
def test_swarm_earbuds_each_advertise_under_their_own_name_and_address(radio, tmp_path):
    with start_swarm(radio, tmp_path, 3, write_tone_wav(tmp_path / "tone.wav")) as swarm:
        announced = dict(m.groups() for line in swarm.lines
                         if (m := re.match(r"^earbud (\S+) advertising as ([0-9A-F:]{17})$", line)))
        assert sorted(announced) == ["Earpiece-Swarm-000", "Earpiece-Swarm-001", "Earpiece-Swarm-002"]
        assert len(set(announced.values())) == 3

        async def scan() -> set[str]:
            """Addresses advertising the Earpiece service (the long names are shortened in the primary data)."""
            seen: set[str] = set()
            async with TestCentral(radio.transport_spec) as central:
                def on_advertisement(ad) -> None:
                    uuids = ad.data.get(ad.data.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS) or []
                    if not ad.is_scan_response and layout.SERVICE_UUID in [str(u).lower() for u in uuids]:
                        seen.add(str(ad.address).split("/")[0])

                central.device.on("advertisement", on_advertisement)
                await central.device.start_scanning(filter_duplicates=False)
                deadline = time.monotonic() + 10
                while not set(announced.values()) <= seen and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                await central.device.stop_scanning()
            return seen

        assert set(announced.values()) <= run(scan())


@pytest.mark.e2e
def test_a_swarm_earbud_pairs_with_the_fixed_passkey_and_streams_the_pre_encoded_wav(radio, tmp_path):
    mic = write_tone_wav(tmp_path / "tone.wav")
    with start_swarm(radio, tmp_path, 2, mic) as swarm:
        address = re.match(r"^earbud \S+ advertising as (\S+)$", swarm.lines[0]).group(1)

        async def listen() -> list[bytes]:
            frames: list[bytes] = []
            async with TestCentral(radio.transport_spec, tmp_path / "keys.json") as central:
                central.passkey_source = lambda: PASSKEY
                connection, peer = await central.connect(address)
                await connection.pair()
                await characteristic(peer, layout.AUDIO_UP_UUID).subscribe(frames.append)
                await asyncio.sleep(1.0)
            return frames

        frames = [decode_frame(data) for data in run(listen())]
        listened_at = time.time()
        assert len(frames) >= 30  # ~50 a second
        assert frames[0].flags & FLAG_START and all(not f.flags & FLAG_START for f in frames[1:])
        assert [f.seq for f in frames] == list(range(len(frames)))
        # The frames are the WAV's own ADPCM frames, in order, from the earbud's offset (0 for the first).
        from device_sim.audio_files import load_wav_16k_mono

        encoder = FrameEncoder(CODEC_ADPCM)
        expected = [decode_frame(d) for d in encoder.encode(load_wav_16k_mono(mic)) + encoder.flush()]
        assert [f.payload for f in frames] == [e.payload for e in expected[: len(frames)]]
        deadline = time.monotonic() + 3
        while True:  # the stats file is rewritten twice a second
            stats = json.loads((tmp_path / "swarm.json").read_text())
            first = stats["earbuds"][0]
            if stats["written_at"] > listened_at or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert stats["count"] == 2 and first["address"] == address
        assert first["stream_started_at"] is not None and first["stream_frames"] >= len(frames)
        assert stats["earbuds"][1]["stream_frames"] == 0  # nobody subscribed to the second one


def test_a_swarm_earbud_plays_reply_audio_out_of_its_speaker(tmp_path):
    earbud = SwarmEarbud(EarbudOptions(radio="unused", name="Earpiece-Swarm-000", state_dir=tmp_path), print,
                         encode_clip(bytes(2 * TICK_SAMPLES)), offset=0)
    hal = SimHal([b""], tmp_path / "core_state.json")
    earbud.use_core(hal, EarbudCore(hal))
    earbud.core.connected()
    encoder = FrameEncoder(CODEC_ADPCM)
    reply = encoder.encode(bytes(2 * 5 * TICK_SAMPLES)) + encoder.flush()  # flush: the END frame
    for frame in reply:
        earbud.core.audio_down_written(frame)
    assert earbud.core.speaker_buffered_ms > 0
    for _ in range(len(reply) + 1):
        run(earbud._tick())
    assert earbud.core.speaker_buffered_ms == 0
