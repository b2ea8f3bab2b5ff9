"""One paired earbud inside the bridge: its link, its conversation, its reply audio, its quiet state.

    earbud ──audio up──► EarbudLink ──PCM──► DeviceSession ──reply PCM──► DownlinkPacer ──audio down──► earbud
           ──status───►            ──Status/Button/Speaker──►  (session, pacer, quiet)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

from host.bridge.downlink import DownlinkPacer
from host.bridge.quiet import QuietBook
from host.bridge.session import DeviceSession
from host.link.adapter import Adapter
from host.link.earbud_link import EarbudLink
from host.link.registry import PairedDevice
from host.pipeline.engines import Engines
from host.bridge.reports import TurnResult
from protocol import control
from protocol.audio import CODEC_NAMES, FLAG_START

log = logging.getLogger(__name__)

class EarbudRunner:
    """One paired earbud: its link, its conversation, its reply audio and its quiet state.

    Quiet is decided here, from the host's record (QuietBook), and applied in three places at once: the link's
    quiet gate drops audio frames undecoded, the queued PCM is discarded, and the session drops its buffers and
    work. The record survives bridge restarts; on every (re)connection a quiet earbud is told again.
    """

    def __init__(
        self,
        device: PairedDevice,
        engines: Engines,
        adapter: Adapter | str | None,
        quiet_book: QuietBook,
        on_turn: Callable[[str, TurnResult], None] | None = None,
        link_class: type[EarbudLink] = EarbudLink,
    ):
        self.device = device
        self.quiet_book = quiet_book
        self.link = link_class(device.address, adapter=adapter, name=device.name, on_connection=self._on_connection,
                               is_quiet=lambda: self.quiet)
        self.pacer = DownlinkPacer(self._send_frame)
        self.session = DeviceSession(
            engines,
            self._send_control,
            self._play_audio,
            name=device.name,
            on_turn=(lambda result: on_turn(device.name, result)) if on_turn else None,
            end_audio=self._end_audio,
        )
        self.session.set_quiet(self.quiet)  # a restarted bridge picks up where the record says
        self.reply_streams_sent_at: deque[float] = deque(maxlen=64)  # wall time each reply stream began leaving
        # Audio counted here; frames the link's quiet gate dropped are in link.stats (see `counters`).
        self._processed = 0
        self._dropped_quiet = 0
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()

    # --- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.link.start()
        self._tasks = [
            asyncio.create_task(self._pump_audio(), name=f"audio {self.device.name}"),
            asyncio.create_task(self._pump_messages(), name=f"messages {self.device.name}"),
            asyncio.create_task(self.pacer.run(), name=f"downlink {self.device.name}"),
        ]

    async def close(self) -> None:
        for task in [*self._tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        await self.session.close()
        await self.link.close()

    # --- earbud -> host ------------------------------------------------------------------------------------------
    async def _pump_audio(self) -> None:
        while True:
            pcm = await self.link.audio.get()
            await self.process_audio(pcm)

    async def process_audio(self, pcm: bytes) -> None:
        """One chunk of decoded mic audio from the link: to the session, unless quiet."""
        if self.quiet:
            # Quiet means stopped: audio decoded just before quiet began is dropped unprocessed, and counted.
            self._dropped_quiet += 1
            return
        self._processed += 1
        await self.session.feed_audio(pcm)

    async def _pump_messages(self) -> None:
        while True:
            await self.handle_message(await self.link.messages.get())

    async def handle_message(self, message: object) -> None:
        """One message from the earbud's status channel."""
        if isinstance(message, control.Speaker):
            self.pacer.speaker_report(message)
            return
        if isinstance(message, control.Status):
            if not self._earbud_reported(bool(message.quiet), message.quiet_source):
                # It says "listening" while we know it quiet, and not because of its switch: tell it again.
                await self._reassert_quiet()
                return
        await self.session.handle_event(message)

    def _on_connection(self, connected: bool) -> None:
        if connected:
            # The host never silently leaves quiet: if we last knew this earbud quiet, say so again.
            if self.quiet:
                self._spawn(self._reassert_quiet())
        else:
            self.pacer.stop()

    async def _reassert_quiet(self) -> None:
        entry = self.quiet_book.get(self.device.address)
        if not entry.quiet or not self.link.connected:
            return
        # The switch is the earbud's to report, not ours to claim: re-assert a switch-held quiet as the host's.
        source = control.QUIET_SOURCE_HOST if entry.source == control.QUIET_SOURCE_SWITCH else entry.source
        try:
            await self.link.send_control(control.SetQuiet(True, source))
        except ConnectionError as error:  # it reconnects and we try again then
            log.info("%s: could not re-assert quiet: %s", self.device.name, error)

    # --- quiet ---------------------------------------------------------------------------------------------------
    def _earbud_reported(self, quiet: bool, source: int) -> bool:
        before = self.quiet
        kept = self.quiet_book.earbud_reported(self.device.address, quiet, source)
        self._quiet_changed(before)
        return kept

    def _host_requested(self, quiet: bool, source: int) -> bool:
        """Record a change the host asked for; True if quiet actually changed."""
        before = self.quiet
        self.quiet_book.host_requested(self.device.address, quiet, source)
        return self._quiet_changed(before)

    def _quiet_changed(self, before: bool) -> bool:
        now = self.quiet
        if now == before:
            return False
        if now:
            self._dropped_quiet += self.link.discard_audio()
        self.session.set_quiet(now)
        log.info("%s: %s", self.device.name, "quiet: not listening" if now else "listening again")
        return True

    # --- host -> earbud ------------------------------------------------------------------------------------------
    async def _send_control(self, message: object) -> None:
        if isinstance(message, control.StopPlayback):
            self.pacer.stop()
        if isinstance(message, control.SetQuiet):
            await self._set_quiet(message)
            return
        if self.link.connected:
            await self.link.send_control(message)

    async def _set_quiet(self, message: control.SetQuiet) -> None:
        changed = self._host_requested(bool(message.quiet), message.source)
        by_voice = message.source == control.QUIET_SOURCE_VOICE
        if message.quiet and not by_voice:
            self.pacer.stop()  # asked from the CLI: stop talking too
        if not self.link.connected:
            return  # applied when it reconnects (see _on_connection)
        cue = control.PlayCue(control.CUE_QUIET_ON if message.quiet else control.CUE_QUIET_OFF)
        if changed and by_voice:
            # The spoken confirmation is still on its way to the ear: the earcon follows it, the mic stops now.
            await self.link.send_control(message)
            self._spawn(self._cue_after_reply(cue))
        elif changed:
            await self.link.send_control([message, cue])
        else:
            await self.link.send_control(message)

    async def _cue_after_reply(self, cue: control.PlayCue) -> None:
        await self.pacer.wait_played()
        if self.link.connected:
            with contextlib.suppress(ConnectionError):
                await self.link.send_control(cue)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)  # a reference, so the task is not collected before it runs
        task.add_done_callback(self._background.discard)

    async def _play_audio(self, pcm: bytes) -> None:
        self.pacer.play(pcm)

    async def _end_audio(self) -> None:
        self.pacer.end_reply()  # one reply = one stream on the link: no gap between its sentences

    async def _send_frame(self, frame: bytes) -> None:
        if frame[1] & FLAG_START:
            self.reply_streams_sent_at.append(time.time())
        await self.link.send_audio_frame(frame)

    # --- state ---------------------------------------------------------------------------------------------------
    @property
    def quiet(self) -> bool:
        return self.quiet_book.get(self.device.address).quiet

    @property
    def counters(self) -> dict[str, int]:
        """audio_frames_received: audio notifications from the earbud; frames_processed: chunks the pipeline got;
        frames_dropped_quiet: frames (or chunks decoded just before quiet began) dropped unprocessed in quiet."""
        return {
            "audio_frames_received": self.link.stats.audio_frames_received,
            "frames_processed": self._processed,
            "frames_dropped_quiet": self.link.stats.audio_frames_dropped_quiet + self._dropped_quiet,
        }

    def status(self) -> dict:
        entry = self.quiet_book.get(self.device.address)
        last = self.link.last_status
        return {
            "device": self.device.name,
            "name": self.device.name,
            "address": self.device.address,
            "connected": self.link.connected,
            "quiet": entry.quiet,
            "quiet_source": entry.source_name,
            "earbud_quiet": bool(last.quiet) if last else None,
            "battery": None if last is None or last.battery == control.BATTERY_UNKNOWN else last.battery,
            "charging": bool(last.charging) if last else None,
            "codec": CODEC_NAMES.get(last.codec) if last else None,
            "firmware": self.link.earbud_hello.firmware if self.link.earbud_hello else None,
            "state": self.session.state,
            **self.counters,
            "wake_detections": self.session.stats["wake_detections"],
            "asr_runs": self.session.stats["asr_runs"],
            "link": self.link.stats.to_json(),
            "downlink": dict(self.pacer.stats),
        }
