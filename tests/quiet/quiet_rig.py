"""The bridge's per-earbud logic without a radio: a real EarbudRunner (quiet record, link quiet gate, ADPCM decode,
DeviceSession with real models) fed encoded audio frames as bleak would deliver them, faster than real time.

Only the Bluetooth transport is left out: the link counts as connected, control writes are recorded, and the
"earbud" answers GET_STATUS with the quiet state it was last told (as the firmware core does).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from host.bridge.runner import EarbudRunner
from host.link.earbud_link import EarbudLink
from host.link.registry import PairedDevice
from host.pipeline.audio import silence
from host.bridge.quiet import QuietBook
from protocol import control
from protocol.audio import FrameEncoder

ADDRESS = "C0:11:22:33:44:55"
FRAME_BYTES = 640  # 20 ms of PCM: one ADPCM frame
WAKE = "Hey Jarvis."


def wake_then(speech, text: str, tail_s: float) -> bytes:
    """The wake word, a short pause, `text`, then `tail_s` of silence (`speech` is the conftest fixture)."""
    return speech(WAKE) + silence(0.3) + speech(text) + silence(tail_s)


class WiredLink(EarbudLink):
    """An EarbudLink whose radio is a list: connected, control writes recorded, GET_STATUS answered."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[object] = []
        self.earbud_quiet = False
        self.earbud_source = control.QUIET_SOURCE_HOST

    @property
    def connected(self) -> bool:
        return True

    async def send_control(self, message) -> None:
        for item in message if isinstance(message, list) else [message]:
            self.sent.append(item)
            if isinstance(item, control.SetQuiet):
                self.earbud_quiet, self.earbud_source = bool(item.quiet), item.source

    async def request_status(self, timeout: float = 3.0) -> control.Status:
        return control.Status(self.earbud_quiet, False, False, self.earbud_source, 90, 1, 80, 0, 600, "test")

    async def send_audio_frame(self, frame: bytes) -> bool:
        return True


class Rig:
    """`async with Rig(engines, tmp_path) as rig:` (inside the event loop); the runner is closed however it ends."""

    def __init__(self, engines, tmp_path: Path) -> None:
        device = PairedDevice(ADDRESS, "Earpiece-Rig", "sim:127.0.0.1:9", time.time())
        self.book = QuietBook(tmp_path / "quiet.json")
        self.runner = EarbudRunner(device, engines, "sim:127.0.0.1:9", self.book, link_class=WiredLink)
        self.link: WiredLink = self.runner.link  # type: ignore[assignment]
        self.session = self.runner.session
        self.encoder = FrameEncoder()
        self.fed: list[tuple[bytes, bool]] = []  # (PCM chunk the session was given, runner quiet at the time)
        feed = self.session.feed_audio

        async def recording_feed(pcm: bytes) -> None:
            self.fed.append((pcm, self.runner.quiet))
            await feed(pcm)

        self.session.feed_audio = recording_feed  # type: ignore[method-assign]
        # Reply audio leaves through the real pacer (runner.close() stops it).
        self.runner._tasks = [asyncio.get_running_loop().create_task(self.runner.pacer.run())]

    async def __aenter__(self) -> Rig:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.close()

    async def mic(self, pcm: bytes) -> None:
        """The earbud's mic audio: encoded into frames, notified, decoded by the link, processed by the runner."""
        for offset in range(0, len(pcm) - len(pcm) % FRAME_BYTES, FRAME_BYTES):
            for frame in self.encoder.encode(pcm[offset: offset + FRAME_BYTES]):
                self.link._on_audio_notification(None, bytearray(frame))  # what bleak calls
            while not self.link.audio.empty():
                await self.runner.process_audio(self.link.audio.get_nowait())

    def restart_stream(self) -> None:
        """The earbud leaves quiet: its next frame starts a new stream."""
        self.encoder.restart()
