"""One paired earbud inside the bridge: its link, its conversation, its reply audio, and quiet applied to them.

    earbud ──audio up──► EarbudLink ──PCM──► DeviceSession ──reply PCM──► DownlinkPacer ──audio down──► earbud
           ──status───►            ──Status/Button──► session; Speaker ──► pacer; quiet ──► QuietController

Quiet is the `QuietController`'s; the runner applies its decisions in one place (`_apply_quiet`): the link's gate
drops audio frames undecoded, the PCM already queued is discarded, and the session drops its buffers and work. On
every (re)connection a quiet earbud is told again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

from host.bridge.downlink import DownlinkPacer
from host.bridge.echo_reference import EchoCancelledUplink
from host.bridge.quiet import QuietController, switch_holds_message
from host.bridge.reports import EarbudStatus, QuietOutcome, TurnResult
from host.bridge.session import DeviceSession
from host.companion import Companion
from host.errors import EarpieceError
from host.link.adapter import Adapter
from host.link.earbud_link import EarbudLink
from host.link.registry import PairedDevice
from host.pipeline.engines import Engines
from protocol import control
from protocol.audio import CODEC_NAMES, FLAG_START

log = logging.getLogger(__name__)

STATUS_TIMEOUT_S = 5.0


class EarbudRunner:
    def __init__(self, device: PairedDevice, engines: Engines, adapter: Adapter | str | None,
                 quiet: QuietController, on_turn: Callable[[str, TurnResult], None] | None = None,
                 companion: Companion | None = None, on_partial: Callable[[str, str], None] | None = None):
        self.device = device
        self.quiet = quiet
        self.address = device.address
        self.link = EarbudLink(device.address, adapter=adapter, name=device.name, on_connection=self._on_connection)
        self.pacer = DownlinkPacer(self._send_frame)
        # [listen] echo_cancel: the reply's echo comes out of the mic's audio, so the session can listen while it speaks.
        self.echo = EchoCancelledUplink() if engines.config.listen.echo_cancel else None
        self.pacer.observer = self.echo
        self.session = DeviceSession(
            engines, self._send_control, self.pacer, name=device.name, companion=companion,
            on_turn=(lambda result: on_turn(device.name, result)) if on_turn else None,
            on_partial=(lambda text: on_partial(device.name, text)) if on_partial else None,
            is_quiet=lambda: self.link.quiet,  # the link's gate: set by _apply_quiet from the quiet controller
            echo_cancelled=self.echo is not None,
        )
        if self.echo is not None:  # over a reply, the wake word and the stop words hear the linear canceller too
            self.session.stop_words.linear_audio = self.echo.recent_linear
            self.session.cancellers_learning = self.echo.learning
        self.link.quiet = quiet.is_quiet(device.address)  # a restarted bridge picks up where the record says
        quiet.watch(device.address, self._apply_quiet)
        self.reply_streams_sent_at: deque[float] = deque(maxlen=64)  # wall time each reply stream began leaving
        self._received = 0  # chunks of PCM taken from the link
        self._dropped_quiet = 0  # chunks decoded just before quiet began, discarded (frames: link.stats)
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
            await self.process_audio(await self.link.audio.get())

    async def process_audio(self, pcm: bytes) -> None:
        """One chunk of decoded mic audio from the link, to the session (which drops it if quiet began meanwhile)."""
        self._received += 1
        if self.echo is not None:
            pcm = self.echo.cancel(pcm)
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
            if not self.quiet.earbud_reported(self.address, bool(message.quiet), message.quiet_source):
                # It says "listening" while we know it quiet, and not because of its switch: tell it again.
                await self._reassert_quiet()
        await self.session.handle_event(message)

    def _on_connection(self, connected: bool) -> None:
        if not connected:
            self.pacer.stop()
            return
        self._spawn(asyncio.to_thread(self._note_seen))
        self._spawn(self._send_settings())
        if self.quiet.is_quiet(self.address):
            # The host never silently leaves quiet: if we last knew this earbud quiet, say so again.
            self._spawn(self._reassert_quiet())

    def _note_seen(self) -> None:
        hello = self.link.earbud_hello
        try:
            self.quiet.registry.touch(self.address, firmware=hello.firmware if hello else None)
        except (EarpieceError, OSError) as error:
            log.warning("%s: last-seen time not recorded (%s)", self.device.name, error)

    async def _send_settings(self) -> None:
        """The earbud's settings from config.toml (`[audio] volume`), on every connection."""
        try:
            await self.link.send_control(control.SetVolume(self.session.config.audio.volume))
        except ConnectionError as error:
            log.info("%s: could not set the volume: %s", self.device.name, error)

    async def _reassert_quiet(self) -> None:
        state = self.quiet.state(self.address)
        if not state.quiet or not self.link.connected:
            return
        # The switch is the earbud's to report, not ours to claim: re-assert a switch-held quiet as the host's.
        source = control.QUIET_SOURCE_HOST if state.held_by_switch else state.source
        try:
            await self.link.send_control(control.SetQuiet(True, source))
        except ConnectionError as error:  # it reconnects and we try again then
            log.info("%s: could not re-assert quiet: %s", self.device.name, error)

    # --- quiet ---------------------------------------------------------------------------------------------------
    def _apply_quiet(self, quiet: bool) -> None:
        """The quiet controller flipped this earbud's state."""
        self.link.quiet = quiet
        if quiet:
            self._dropped_quiet += self.link.discard_audio()
        self.session.quiet_changed(quiet)
        log.info("%s: %s", self.device.name, "quiet: not listening" if quiet else "listening again")

    async def set_quiet(self, quiet: bool, source: int = control.QUIET_SOURCE_HOST) -> QuietOutcome:
        """Enter or leave quiet (CLI or voice), tell the earbud first, then keep the record; report what the earbud
        says it is now. Leaving is refused while the earbud's switch holds quiet."""
        if not quiet and self.quiet.state(self.address).held_by_switch:
            return self._outcome(ok=False, error=switch_holds_message(self.device.name))
        changed = self.quiet.host_requested(self.address, quiet, source, persist=False)
        by_voice = source == control.QUIET_SOURCE_VOICE
        if quiet and not by_voice:
            await self.session.voice.stop()  # asked from the CLI: stop talking too
        message = control.SetQuiet(quiet, source)
        cue = control.PlayCue(control.CUE_QUIET_ON if quiet else control.CUE_QUIET_OFF)
        try:
            if self.link.connected:
                if changed and by_voice:
                    # The spoken confirmation is still on its way to the ear: the earcon follows it, the mic stops now.
                    await self.link.send_control(message)
                    self._spawn(self._cue_after_reply(cue))
                else:
                    await self.link.send_control([message, cue] if changed else message)
        except ConnectionError:
            pass  # the link dropped under us: the state holds, and the reconnection applies it
        saved = self.quiet.persist(self.address)
        if not self.link.connected:
            return self._outcome(pending=True, saved=saved)
        with contextlib.suppress(ConnectionError, TimeoutError, asyncio.TimeoutError):
            status = await self.link.request_status(STATUS_TIMEOUT_S)
            self.quiet.earbud_reported(self.address, bool(status.quiet), status.quiet_source)
        ok = self.quiet.is_quiet(self.address) == quiet
        return self._outcome(ok=ok, saved=saved, error=None if ok else
                             f"{self.device.name} stayed {'quiet' if not quiet else 'listening'}")

    def _outcome(self, **fields) -> QuietOutcome:
        state = self.quiet.state(self.address)
        return QuietOutcome(self.device.name, self.address, state.quiet, state.source_name, **fields)

    async def _cue_after_reply(self, cue: control.PlayCue) -> None:
        await self.pacer.wait_played()
        if self.link.connected:
            with contextlib.suppress(ConnectionError):
                await self.link.send_control(cue)

    # --- host -> earbud ------------------------------------------------------------------------------------------
    async def _send_control(self, message: object) -> None:
        """The session's messages to the earbud; a quiet request goes through the quiet controller."""
        if isinstance(message, control.SetQuiet):
            await self.set_quiet(bool(message.quiet), message.source)
        elif self.link.connected:
            if isinstance(message, control.PlayCue):
                self.pacer.cue_sent(message.cue)  # a reply starting now waits for the cue on the earbud
            await self.link.send_control(message)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)  # a reference, so the task is not collected before it runs
        task.add_done_callback(self._background.discard)

    async def _send_frame(self, frame: bytes) -> None:
        if frame[1] & FLAG_START:
            self.reply_streams_sent_at.append(time.time())
        await self.link.send_audio_frame(frame)

    # --- state ---------------------------------------------------------------------------------------------------
    def status(self) -> EarbudStatus:
        state = self.quiet.state(self.address)
        last = self.link.last_status
        stats = self.session.stats
        return EarbudStatus(
            name=self.device.name, address=self.address, connected=self.link.connected, quiet=state.quiet,
            quiet_source=state.source_name, via="bridge",
            earbud_quiet=bool(last.quiet) if last else None,
            battery=None if last is None or last.battery == control.BATTERY_UNKNOWN else last.battery,
            charging=bool(last.charging) if last else None,
            codec=CODEC_NAMES.get(last.codec) if last else None,
            volume=last.volume if last else None,
            firmware=self.link.earbud_hello.firmware if self.link.earbud_hello else None,
            mtu=self.link.mtu, state=self.session.state,
            audio_frames_received=self.link.stats.audio_frames_received,
            frames_processed=self._received - stats["audio_ignored_quiet"],
            frames_dropped_quiet=(self.link.stats.audio_frames_dropped_quiet + self._dropped_quiet
                                  + stats["audio_ignored_quiet"]),
            wake_detections=stats["wake_detections"], wake_rejected=stats["wake_rejected"], asr_runs=stats["asr_runs"],
            not_wearer=stats["not_wearer"],
            wake_shed_blocks=self.session.engines.wake_shed_blocks(self.session.listening_part.audio_clock),
            link=self.link.stats.to_json(), downlink=dict(self.pacer.stats),
        )
