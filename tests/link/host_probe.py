"""A host process for the link tests: drives the earbud through bleak + our Bumble backend and prints one JSON line.

    host_probe.py unpaired ADDRESS            # connect without pairing; try every protected operation
    host_probe.py collect ADDRESS --seconds S [--codec pcm|adpcm] [--frames-out FILE]
                                              # EarbudLink: receive audio for S seconds (reconnecting as needed)
    host_probe.py downlink ADDRESS WAV [--codec pcm|adpcm]
                                              # EarbudLink: play WAV on the earbud's speaker, paced
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bleak import BleakClient  # noqa: E402
from bleak.exc import BleakError, BleakGATTProtocolError  # noqa: E402

from host.link.adapter import resolve_adapter  # noqa: E402
from host.link.earbud_link import EarbudLink  # noqa: E402
from protocol import control, gatt  # noqa: E402
from protocol.audio import CODEC_PCM16, FLAG_START  # noqa: E402


async def _attempt(coro) -> str:
    try:
        await coro
    except BleakGATTProtocolError as error:
        return f"att_error_{error.args[0]}"
    except BleakError as error:
        return f"error: {error}"
    return "ok"


async def unpaired(address: str, seconds: float) -> dict:
    adapter = resolve_adapter(None)
    received = {"audio": 0, "status": 0}
    client = BleakClient(address, timeout=20, **adapter.client_kwargs())
    await client.connect()
    try:
        result = {
            "encrypted": client._backend.is_encrypted,  # type: ignore[attr-defined]
            "read_status": await _attempt(client.read_gatt_char(gatt.STATUS_UUID)),
            "subscribe_audio": await _attempt(
                client.start_notify(gatt.AUDIO_UP_UUID, lambda _c, d: received.__setitem__("audio", received["audio"] + len(d)))
            ),
            "subscribe_status": await _attempt(
                client.start_notify(gatt.STATUS_UUID, lambda _c, d: received.__setitem__("status", received["status"] + len(d)))
            ),
            "write_control": await _attempt(
                client.write_gatt_char(gatt.CONTROL_UUID, control.Hello(1, 3, "probe").encode(), response=True)
            ),
            "read_battery": await _attempt(client.read_gatt_char("00002a19-0000-1000-8000-00805f9b34fb")),
        }
        # Write without response has no answer on the wire: whatever the earbud does with it, it must not stream.
        await client.write_gatt_char(gatt.AUDIO_DOWN_UUID, bytes(168), response=False)
        await asyncio.sleep(seconds)
        result["audio_bytes"] = received["audio"]
        result["status_bytes"] = received["status"]
        result["still_connected"] = client.is_connected
    finally:
        await client.disconnect()
    return result


class RecordingLink(EarbudLink):
    """EarbudLink that also keeps every audio frame as bleak delivered it (to compare with the mic signal)."""

    def __init__(self, address: str, recording: bool) -> None:
        super().__init__(address)
        self.frames: list[bytes] = []
        self.recording = recording

    def _on_audio_notification(self, sender, data: bytearray) -> None:
        # After SET_CODEC the earbud restarts its stream: keep frames from that START on.
        if not self.recording and data[0] == CODEC_PCM16 and data[1] & FLAG_START:
            self.recording = True
        if self.recording:
            self.frames.append(bytes(data))
        super()._on_audio_notification(sender, data)


async def collect(address: str, seconds: float, codec: str, frames_out: Path | None) -> dict:
    link = RecordingLink(address, recording=codec != "pcm")
    started = time.monotonic()
    await link.connect(timeout=30)
    connected_at = time.monotonic() - started
    if codec == "pcm":
        await link.send_control(control.SetCodec(CODEC_PCM16))
    pcm_bytes = 0
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:  # the consumer the link's queue is for
        try:
            pcm_bytes += len(await asyncio.wait_for(link.audio.get(), remaining))
        except asyncio.TimeoutError:
            break
    stats = link.stats.to_json()
    await link.close()
    if frames_out is not None:
        frames_out.write_text(json.dumps([f.hex() for f in link.frames]))
    return {"connect_s": connected_at, "frames": len(link.frames), "pcm_bytes": pcm_bytes, "stats": stats}


async def downlink(address: str, wav: Path, codec: str, settle_s: float) -> dict:
    """Play `wav` (16 kHz mono PCM16) on the earbud's speaker at volume 100, paced at real time."""
    import wave

    from protocol.audio import CODEC_ADPCM, FRAME_MS, FrameEncoder

    with wave.open(str(wav), "rb") as f:
        pcm = f.readframes(f.getnframes())
    link = EarbudLink(address, stream_audio=False)
    await link.connect(timeout=30)
    await link.send_control(control.SetVolume(100))
    await asyncio.sleep(settle_s)  # let the spoken passkey and cues finish: the speaker must play only ours
    codec_id = CODEC_PCM16 if codec == "pcm" else CODEC_ADPCM
    frames = FrameEncoder(codec_id).encode(pcm)
    frame_s = FRAME_MS[codec_id] / 1000
    lead_s = 0.15  # keep the earbud's jitter buffer ahead of its speaker
    started = time.monotonic()
    sent = 0
    for i, frame in enumerate(frames):
        delay = started + i * frame_s - lead_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent += await link.send_audio_frame(frame)
    await asyncio.sleep(lead_s + 0.5)
    stats = link.stats.to_json()
    await link.close()
    return {"frames": len(frames), "sent": sent, "stats": stats}


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("unpaired")
    p.add_argument("address")
    p.add_argument("--seconds", type=float, default=1.0)
    c = sub.add_parser("collect")
    c.add_argument("address")
    c.add_argument("--seconds", type=float, default=3.0)
    c.add_argument("--codec", choices=["adpcm", "pcm"], default="adpcm")
    c.add_argument("--frames-out", type=Path)
    d = sub.add_parser("downlink")
    d.add_argument("address")
    d.add_argument("wav", type=Path)
    d.add_argument("--codec", choices=["adpcm", "pcm"], default="pcm")
    d.add_argument("--settle", type=float, default=1.0, help="seconds to wait before playing")
    args = parser.parse_args()
    if args.mode == "unpaired":
        result = asyncio.run(unpaired(args.address, args.seconds))
    elif args.mode == "downlink":
        result = asyncio.run(downlink(args.address, args.wav, args.codec, args.settle))
    else:
        result = asyncio.run(collect(args.address, args.seconds, args.codec, args.frames_out))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
