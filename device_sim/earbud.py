"""The simulated earbud: the firmware's portable core (earbud.core) with a simulated board, on the virtual radio.

This is the board glue the real firmware has in aioble form. The Bluetooth side lives in earbud_link.py; this
file runs the 20 ms audio tick (mic frames up, speaker samples out to a WAV or the computer's speakers) and the
1 s housekeeping, takes the console's switch/button/battery commands and keeps the stats file. Everything that
decides something lives in the core.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from device_sim import __version__
from device_sim.audio_files import SAMPLE_RATE, WavSink, load_wav_16k_mono, speak_digit_clips
from device_sim.earbud_link import EarbudLink, load_or_make_address
from device_sim.echo_path import EchoPath, EchoSpec
from device_sim.errors import EarbudError
from device_sim.quiet_leak import QuietLeak
from device_sim.sim_hal import SimHal, write_json_atomic  # also makes `earbud` importable
from earbud.core import EarbudCore
from protocol import control

logger = logging.getLogger(__name__)

MODEL = "EP-SIM"
TICK_S = 0.020  # the core's audio tick: one ADPCM frame of mic audio, 320 speaker samples
TICK_SAMPLES = int(SAMPLE_RATE * TICK_S)
BUTTONS = {"press": control.BUTTON_PRESS, "double": control.BUTTON_DOUBLE, "long": control.BUTTON_LONG}


@dataclasses.dataclass
class EarbudOptions:
    radio: str  # HOST:PORT of `earpiece-sim radio`
    name: str
    mic: list[Path] = dataclasses.field(default_factory=list)
    speaker: Path | None = None
    state_dir: Path | None = None
    passkey: int | None = None
    stats: Path | None = None
    address: str | None = None
    # The computer's microphone / speakers through PyAudio: a device spec ("" = the default device, else an
    # index or name from `earpiece-sim audio-devices`); None = WAV files (or silence) as above.
    live_mic: str | None = None
    live_speaker: str | None = None
    # Test aid (hidden flag --misbehave-audio-in-quiet): a broken firmware that keeps streaming its mic while it
    # reports quiet, so tests can prove the host drops such audio unprocessed. Never for real use.
    misbehave_audio_in_quiet: bool = False
    echo: EchoSpec | None = None  # the speaker leaks into the mic (--echo; device_sim/echo_path.py)


def default_state_dir(name: str) -> Path:
    """Per-earbud state: $EARPIECE_HOME/sim/NAME when set (tests), else the user's state directory."""
    home = os.environ.get("EARPIECE_HOME")
    if home:
        return Path(home) / "sim" / name
    import platformdirs

    return platformdirs.user_state_path("earpiece") / "sim" / name


class SimulatedEarbud:
    def __init__(self, options: EarbudOptions, announce: Callable[[str], None]) -> None:
        self.options = options
        self.announce = announce  # one line to the user (stdout in the CLI)
        self.state_dir = options.state_dir or default_state_dir(options.name)
        self.counters = collections.Counter[str](ticks_late=0)  # reported as 0, not missing, when none was late
        self.link = EarbudLink(options.name, self.state_dir, options.passkey, announce, self.counters)
        self.address: str | None = None
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.speaker: WavSink | None = None
        self.portaudio = None  # pyaudio_io.PortAudio when a live mic or speaker is used
        self.live_mic = None
        self.live_speaker = None
        self._quiet_leak: QuietLeak | None = None  # only with --misbehave-audio-in-quiet

    def use_core(self, hal: SimHal, core: EarbudCore) -> None:
        """The simulated board and the firmware core this earbud runs (start() makes them)."""
        self.hal, self.core = hal, core
        self.link.core = core
        self.link.on_connected = hal.rewind  # a new connection: the mic's world starts from its beginning
        if self.options.misbehave_audio_in_quiet:
            self._quiet_leak = QuietLeak(hal, core, self.counters)

    # -- start and stop ---------------------------------------------------------------------------------

    async def start(self) -> None:
        options = self.options
        try:
            playlist = [load_wav_16k_mono(path) for path in options.mic]
        except ValueError as error:
            raise EarbudError(str(error)) from error
        if options.passkey is not None and not 0 <= options.passkey <= 999_999:
            raise EarbudError("--passkey must be 0..999999 (six digits)")
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            address = load_or_make_address(self.state_dir, options.address)
            if options.speaker is not None:
                self.speaker = WavSink(options.speaker)
        except OSError as error:
            raise EarbudError(f"cannot write {error.filename or self.state_dir} ({error.strerror}); "
                              "pick a writable --state-dir / --speaker") from error
        self._open_live_audio()
        try:
            await self.link.open_radio(options.radio)
        except EarbudError:
            self._close_live_audio()
            raise
        clips = await asyncio.to_thread(speak_digit_clips, self.state_dir / "clips")
        hal = SimHal(playlist, self.state_dir / "core_state.json", clips, board_file=self.state_dir / "board.json",
                     live_mic=self.live_mic)
        hal.echo = EchoPath(options.echo) if options.echo is not None else None
        self.use_core(hal, EarbudCore(hal, firmware_version=__version__, model=MODEL))
        self.address = await self.link.start(self.core, address, model=MODEL, firmware=__version__)
        self.announce(f"earbud {options.name} advertising as {self.address}")
        if self.core.pairing_mode:
            logger.info("pairing mode: pair from the host with `earpiece pair`")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._tick_loop()), loop.create_task(self._housekeeping_loop())]

    async def run(self) -> None:
        """Run until stop() or the radio goes away."""
        radio_lost = asyncio.ensure_future(self.link.transport.source.terminated)
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait([radio_lost, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        await self.close()
        if radio_lost.done():
            raise EarbudError(f"lost the radio at {self.options.radio}; restart `earpiece-sim radio` and this earbud")

    def stop(self) -> None:
        self._stopping.set()

    def _open_live_audio(self) -> None:
        """Open the computer's mic/speakers now, so a wrong device fails at start with the list of good ones."""
        options = self.options
        if options.live_mic is None and options.live_speaker is None:
            return
        from device_sim.pyaudio_io import AudioDeviceError, PortAudio

        try:
            self.portaudio = PortAudio()
            if options.live_mic is not None:
                self.live_mic = self.portaudio.open_mic(options.live_mic)
                logger.info("mic: %s at %d Hz", self.live_mic.device.name, self.live_mic.rate)
            if options.live_speaker is not None:
                self.live_speaker = self.portaudio.open_speaker(options.live_speaker)
                logger.info("speaker: %s at %d Hz", self.live_speaker.device.name, self.live_speaker.rate)
        except AudioDeviceError as error:
            self._close_live_audio()
            raise EarbudError(str(error)) from error

    def _close_live_audio(self) -> None:
        for stream in (self.live_mic, self.live_speaker):
            if stream is not None:
                try:
                    stream.close()
                except Exception:  # closing must not stop the rest of the shutdown
                    logger.exception("closing the sound device failed")
        self.live_mic = self.live_speaker = None
        if self.portaudio is not None:
            self.portaudio.close()
            self.portaudio = None

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.hal.save_board()
        self._write_stats()
        if self.speaker is not None:
            self.speaker.close()
            self.speaker = None
        self._close_live_audio()
        await self.link.close()

    # -- the 20 ms tick ---------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        next_tick = time.monotonic()
        while True:
            next_tick += TICK_S
            delay = next_tick - time.monotonic()
            if delay < -TICK_S:  # a tick or more behind (a busy machine): its speaker audio plays that much late
                self.counters["ticks_late"] += 1
            if delay < -0.2:  # the loop stalled (a suspended process): resync instead of racing to catch up
                next_tick = time.monotonic()
                delay = 0
            await asyncio.sleep(max(0.0, delay))
            try:
                await self._tick()
            except Exception:  # one bad tick must not kill the earbud
                logger.exception("tick failed")

    async def _tick(self) -> None:
        frames = self._mic_frames()
        if frames:
            self.link.queue_audio(frames)
        self.link.pump_audio()
        await self.link.send_status_notifications()
        samples = self.core.speaker_pull(TICK_SAMPLES)
        if self.hal.echo is not None:
            self.hal.echo.played(samples)
        if self.live_speaker is not None:
            self.live_speaker.write(samples)
        elif self.speaker is not None:
            self.speaker.write(samples)

    def _mic_frames(self) -> list[bytes]:
        """This tick's audio-up frames (the swarm replays pre-encoded ones instead)."""
        frames = self.core.mic_tick()
        if self._quiet_leak is not None and self.core.quiet:
            frames = self._quiet_leak.frames()
        return frames

    # -- 1 s housekeeping -------------------------------------------------------------------------------

    async def _housekeeping_loop(self) -> None:
        last_battery = None
        while True:
            await asyncio.sleep(1.0)
            try:
                self.core.housekeeping()
                battery = min(self.core.battery, 100)
                if battery != last_battery:
                    await self.link.notify_battery(battery)
                last_battery = battery
                self._write_stats()
            except Exception:
                logger.exception("housekeeping failed")

    # -- console and stats --------------------------------------------------------------------------------

    def set_quiet_switch(self, quiet: bool) -> None:
        self.hal.switch_quiet = quiet
        self.hal.save_board()
        self.core.switch_changed(quiet)
        if quiet:
            self.link.drop_queued_audio()  # privacy: audio still queued does not leave once the switch is on

    def press(self, event: int) -> None:
        self.core.button(event)

    def set_battery(self, percent: int) -> None:
        self.hal.battery = float(percent)
        self.hal.save_board()

    def status(self) -> dict:
        stats = dict(self.core.stats)
        stats["audio_frames_encoded"] = stats.pop("audio_frames_sent", 0)
        connection = self.link.connection
        stats.update(
            {
                "name": self.options.name,
                "address": self.address,
                "connected": connection is not None,
                "peer": str(connection.peer_address) if connection else None,
                "streaming": self.core.streaming,
                "quiet": self.core.quiet,
                "quiet_source": self.core.quiet_source,
                "pairing_mode": self.core.pairing_mode,
                "battery": self.core.battery,
                "volume": self.core.volume,
                "led": self.hal.led_mode,
                "speaker_buffered_ms": self.core.speaker_buffered_ms,
                "mic_overruns": self.hal.mic_overruns,
                "mic_started_at": self.hal.world_started_at,
                "speaker_stream_starts": list(self.link.speaker_stream_starts),
                "att_refused": self.link.gatt.refused,
                "audio_frames_sent": 0,
                "audio_frames_dropped": 0,
            }
        )
        if self.live_mic is not None:
            stats.update({"mic_device": self.live_mic.device.name, "mic_device_rate": self.live_mic.rate,
                          "mic_input_overflows": self.live_mic.overflows})
        if self.live_speaker is not None:
            stats.update({"speaker_device": self.live_speaker.device.name,
                          "speaker_device_rate": self.live_speaker.rate,
                          "speaker_output_underruns": self.live_speaker.underruns,
                          "speaker_output_dropped_ms": round(self.live_speaker.dropped_ms)})
        if self.hal.echo is not None:
            stats["echo_reanchors"] = self.hal.echo.reanchors
        stats.update(self.counters)
        return stats

    def _write_stats(self) -> None:
        if self.options.stats is not None:
            write_json_atomic(self.options.stats, self.status())
