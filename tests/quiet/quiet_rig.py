"""The bridge's per-earbud logic without a radio: a real EarbudRunner (quiet controller and registry, the link's
quiet gate, ADPCM decode, DeviceSession with real models) and the real earbud core (the firmware's), wired by
function calls instead of Bluetooth. The earbud's mic frames are made here (so a misbehaving earbud can be played
too) and fed as bleak would deliver them, faster than real time.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import device_sim.firmware  # noqa: F401  (makes the firmware's `earbud` package importable)
from device_sim.sim_hal import SimHal
from earbud.core import EarbudCore
from host.bridge.quiet import QuietController
from host.bridge.runner import EarbudRunner
from host.link.earbud_link import EarbudLink
from host.link.registry import DeviceRegistry
from host.pipeline.audio import silence
from protocol.audio import FrameEncoder

ADDRESS = "C0:11:22:33:44:55"
FRAME_BYTES = 640  # 20 ms of PCM: one ADPCM frame
WAKE = "Hey Jarvis."


def wake_then(speech, text: str, tail_s: float) -> bytes:
    """The wake word, a short pause, `text`, then `tail_s` of silence (`speech` is the conftest fixture)."""
    return speech(WAKE) + silence(0.3) + speech(text) + silence(tail_s)


class WiredLink(EarbudLink):
    """The real EarbudLink (its protocol object, queues, status waiters and quiet gate) whose radio is a function call
    to the real earbud core: control writes go to `EarbudCore.control_written`, and whatever the core notifies comes
    back through the link's own notification handler. Only bleak and Bumble are left out."""

    def __init__(self, earbud: EarbudCore, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.earbud = earbud
        self.sent: list[object] = []  # every control message the host wrote, in order

    @property
    def connected(self) -> bool:
        return True

    async def send_control(self, message) -> None:
        self.sent.extend(message if isinstance(message, list) else [message])
        self.earbud.control_written(self.protocol.encode_control(message))
        self.deliver_notifications()

    def deliver_notifications(self) -> None:
        for value in self.earbud.take_notifications():
            self._on_status_notification(None, bytearray(value))  # what bleak calls

    async def send_audio_frame(self, frame: bytes) -> bool:
        self.earbud.audio_down_written(frame)
        self.protocol.audio_sent(frame, True)
        return True


class Rig:
    """`async with Rig(engines, tmp_path) as rig:` (inside the event loop); the runner is closed however it ends."""

    def __init__(self, engines, tmp_path: Path) -> None:
        home = tmp_path / "home"
        os.environ["EARPIECE_HOME"] = str(home)  # the registry (and the quiet record in it) of this test alone
        registry = DeviceRegistry(home / "data" / "devices.sqlite3")
        device = registry.add(ADDRESS, "Earpiece-Rig", "sim:127.0.0.1:9")
        self.quiet = QuietController(registry)
        self.earbud = EarbudCore(SimHal([], tmp_path / "earbud-state.json"))
        self.earbud.connected()
        self.earbud.set_streaming(True)
        self.runner = EarbudRunner(device, engines, "sim:127.0.0.1:9", self.quiet)
        # The runner's link, swapped for one wired to the earbud core (the runner reads `runner.link` each time).
        self.link = WiredLink(self.earbud, ADDRESS, adapter="sim:127.0.0.1:9", name=device.name,
                              reconnect=False)
        self.link.quiet = self.runner.link.quiet
        self.runner.link = self.link
        self.session = self.runner.session
        self.encoder = FrameEncoder()
        self.fed: list[tuple[bytes, bool]] = []  # (PCM chunk the session was given, quiet at the time)
        feed = self.session.feed_audio

        async def recording_feed(pcm: bytes) -> None:
            self.fed.append((pcm, self.quiet.is_quiet(ADDRESS)))
            await feed(pcm)

        self.session.feed_audio = recording_feed  # type: ignore[method-assign]
        # Reply audio leaves through the real pacer; status messages go to the runner as its pump would send them.
        loop = asyncio.get_running_loop()
        self.runner._tasks = [loop.create_task(self.runner.pacer.run()), loop.create_task(self.runner._pump_messages())]

    async def __aenter__(self) -> Rig:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.close()
        os.environ.pop("EARPIECE_HOME", None)

    @property
    def earbud_quiet(self) -> bool:
        """What the earbud core itself holds (its mic is off when True)."""
        return bool(self.earbud.quiet)

    async def settle(self) -> None:
        """Let the runner handle what the earbud notified."""
        for _ in range(5):
            await asyncio.sleep(0)

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
