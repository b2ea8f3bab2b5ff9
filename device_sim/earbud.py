"""The simulated earbud: the firmware's portable core (earbud.core) on a Bumble peripheral on the virtual radio.

This file is the board glue the real firmware has in aioble form: it moves bytes between the core and
Bluetooth, runs the 20 ms audio tick and the 1 s housekeeping, and keeps bonds, address and core state in
the state directory. Everything that decides something lives in the core.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from bumble import hci
from bumble.core import UUID, AdvertisingData, PhysicalTransport
from bumble.device import Connection, Device
from bumble.gatt import Characteristic
from bumble.keys import JsonKeyStore, PairingKeys
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport

from device_sim import __version__
from device_sim.audio_files import SAMPLE_RATE, WavSink, load_wav_16k_mono, speak_digit_clips
from device_sim.earbud_gatt import EarbudGatt
from device_sim.sim_hal import SimHal, write_json_atomic  # also makes `earbud` importable
from earbud.audio_path import MIC_BLOCK_SAMPLES, MIC_MAX_BLOCKS_PER_TICK
from earbud.core import EarbudCore
from protocol import control
from protocol.audio import FLAG_START

logger = logging.getLogger(__name__)

ADVERTISING_INTERVAL_MS = 40

MODEL = "EP-SIM"
TICK_S = 0.020  # the core's audio tick: one ADPCM frame of mic audio, 320 speaker samples
TICK_SAMPLES = int(SAMPLE_RATE * TICK_S)
AUDIO_FRAME_MIN_MTU = 171  # 168-byte frame + 3 bytes of ATT header; smaller MTUs would truncate frames
# Audio frames handed to Bumble but not yet acknowledged by the peer: about 2 connection events' worth at the
# default interval. Beyond it frames wait in our queue, so a slow link delays audio instead of piling up in
# Bumble's unbounded queue.
MAX_LINK_PENDING = 4
# Frames we hold back while the link is slow (~320 ms of audio); the oldest is dropped past that, as a
# firmware with a small TX ring would. The host conceals the gap.
MAX_AUDIO_BACKLOG = 16
ADVERTISING_PAYLOAD = 31


class EarbudError(RuntimeError):
    """The earbud cannot run (radio unreachable, bad WAV, ...): the message says what to do."""


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


def default_state_dir(name: str) -> Path:
    """Per-earbud state: $EARPIECE_HOME/sim/NAME when set (tests), else the user's state directory."""
    home = os.environ.get("EARPIECE_HOME")
    if home:
        return Path(home) / "sim" / name
    import platformdirs

    return platformdirs.user_state_path("earpiece") / "sim" / name


def advertising_data(name: str) -> bytes:
    """Flags, the 128-bit Earpiece service UUID and the name (shortened to fit 31 bytes), all primary."""
    from protocol import gatt as layout

    fixed = [
        (AdvertisingData.FLAGS, bytes([AdvertisingData.LE_GENERAL_DISCOVERABLE_MODE_FLAG
                                       | AdvertisingData.BR_EDR_NOT_SUPPORTED_FLAG])),
        (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, UUID(layout.SERVICE_UUID).to_bytes(True)),
    ]
    used = sum(2 + len(value) for _, value in fixed)
    room = ADVERTISING_PAYLOAD - used - 2
    encoded = name.encode("utf-8")
    if len(encoded) <= room:
        name_field = (AdvertisingData.COMPLETE_LOCAL_NAME, encoded)
    else:
        short = encoded[:room].decode("utf-8", errors="ignore").encode("utf-8")
        name_field = (AdvertisingData.SHORTENED_LOCAL_NAME, short)
    return bytes(AdvertisingData(fixed + [name_field]))


def parse_static_address(text: str) -> hci.Address:
    """A random static address from "C0:11:22:33:44:55"; EarbudError saying what is wrong otherwise."""
    try:
        address = hci.Address(text, hci.Address.RANDOM_DEVICE_ADDRESS)
    except (ValueError, TypeError) as error:
        raise EarbudError(f"--address {text!r} is not a Bluetooth address like C0:11:22:33:44:55") from error
    if not address.is_static:
        raise EarbudError(f"--address {text} is not a random static address (its first byte must be C0..FF)")
    return address


def _load_or_make_address(state_dir: Path, given: str | None) -> hci.Address:
    path = state_dir / "address.txt"
    if given:
        address = parse_static_address(given)
    else:
        try:
            address = hci.Address(path.read_text(encoding="utf-8").strip(), hci.Address.RANDOM_DEVICE_ADDRESS)
        except (OSError, ValueError):
            raw = bytearray(secrets.token_bytes(6))
            raw[5] |= 0xC0  # random static: the two most significant bits set
            address = hci.Address(bytes(raw), hci.Address.RANDOM_DEVICE_ADDRESS)
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(str(address).split("/")[0] + "\n", encoding="utf-8")
    return address


class _EarbudPairing(PairingDelegate):
    """No screen, no keyboard: the earbud 'displays' its passkey by speaking it into the wearer's ear."""

    def __init__(self, earbud: SimulatedEarbud) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY)
        self.earbud = earbud

    async def accept(self) -> bool:
        accepted = self.earbud.core.pairing_mode
        if not accepted:
            logger.info("pairing refused: not in pairing mode (long-press the button to pair)")
        return accepted

    async def generate_passkey(self) -> int:
        fixed = self.earbud.options.passkey
        # Never 000000: Bumble (and so some hosts) treat a passkey of 0 as "no passkey".
        return fixed if fixed is not None else 1 + secrets.randbelow(999_999)

    async def display_number(self, number: int, digits: int) -> None:
        self.earbud.core.speak_passkey(number)
        self.earbud.announce(f"passkey: {number:06d}")


class SimulatedEarbud:
    def __init__(self, options: EarbudOptions, announce: Callable[[str], None]) -> None:
        self.options = options
        self.announce = announce  # one line to the user (stdout in the CLI)
        self.state_dir = options.state_dir or default_state_dir(options.name)
        self.counters = collections.Counter[str]()
        self.connection: Connection | None = None
        self._audio_backlog: collections.deque[bytes] = collections.deque()
        self.speaker_stream_starts: collections.deque[float] = collections.deque(maxlen=64)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.speaker: WavSink | None = None
        self.device: Device | None = None
        self.portaudio = None  # pyaudio_io.PortAudio when a live mic or speaker is used
        self.live_mic = None
        self.live_speaker = None
        self._misbehave_encoder = None  # only with --misbehave-audio-in-quiet

    # -- start ------------------------------------------------------------------------------------------

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
            address = _load_or_make_address(self.state_dir, options.address)
            if options.speaker is not None:
                self.speaker = WavSink(options.speaker)
        except OSError as error:
            raise EarbudError(f"cannot write {error.filename or self.state_dir} ({error.strerror}); "
                              "pick a writable --state-dir / --speaker") from error
        self._open_live_audio()
        try:
            self.transport = await open_transport(f"tcp-client:{options.radio}")
        except OSError as error:
            self._close_live_audio()
            raise EarbudError(
                f"cannot reach the radio at {options.radio} ({error.strerror or error}); "
                "start it with `earpiece-sim radio` and pass its address with --radio"
            ) from error
        clips = await asyncio.to_thread(speak_digit_clips, self.state_dir / "clips")
        self.hal = SimHal(playlist, self.state_dir / "core_state.json", clips, board_file=self.state_dir / "board.json",
                          live_mic=self.live_mic)
        self.core = EarbudCore(self.hal, firmware_version=__version__, model=MODEL)

        device = Device.with_hci(options.name, address, self.transport.source, self.transport.sink)
        self.device = device
        device.keystore = JsonKeyStore(namespace=None, filename=str(self.state_dir / "bonds.json"))
        device.pairing_config_factory = lambda _connection: PairingConfig(
            sc=True, mitm=True, bonding=True, delegate=_EarbudPairing(self)
        )
        self.gatt = EarbudGatt(
            device,
            model=MODEL,
            firmware=__version__,
            battery=lambda: min(self.core.battery, 100),
            status_value=self.core.status_value,
            on_control=self._on_control,
            on_audio_down=self._on_audio_down,
            on_subscription=self._on_subscription,
        )
        device.on(device.EVENT_CONNECTION, self._on_connection)
        await device.power_on()
        device.host.le_acl_packet_queue.on("flow", self._pump_audio)

        bonds = await device.keystore.get_all()
        if not bonds:
            self.core.enter_pairing_mode()  # first boot (or all bonds forgotten): ready to pair
        data = advertising_data(options.name)
        await device.start_advertising(
            auto_restart=True,
            advertising_data=data,
            scan_response_data=bytes(AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME,
                                                       options.name.encode("utf-8")[:29])])),
            # Fast advertising, as earbuds do while they expect their host back: a dropped link is restored in
            # well under a second instead of waiting for a slow 1 s advertisement.
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )
        self.address = str(address).split("/")[0]
        self.announce(f"earbud {options.name} advertising as {self.address}")
        if self.core.pairing_mode:
            logger.info("pairing mode: pair from the host with `earpiece pair`")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._tick_loop()), loop.create_task(self._housekeeping_loop())]

    async def run(self) -> None:
        """Run until stop() or the radio goes away."""
        radio_lost = asyncio.ensure_future(self.transport.source.terminated)
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait([radio_lost, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if radio_lost.done():
            await self.close()
            raise EarbudError(f"lost the radio at {self.options.radio}; restart `earpiece-sim radio` and this earbud")
        await self.close()

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
        try:
            if self.connection is not None:
                await asyncio.wait_for(self.connection.disconnect(), 1.0)
        except Exception:  # the radio may already be gone
            pass
        try:
            await self.transport.close()
        except Exception:
            pass

    # -- link events ------------------------------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        if connection.transport != PhysicalTransport.LE:
            return
        logger.info("connected: %s", connection.peer_address)
        self.connection = connection
        self._audio_backlog.clear()
        self.hal.rewind()
        self.core.connected()
        self.counters["connections"] += 1
        connection.on(connection.EVENT_DISCONNECTION, lambda reason: self._on_disconnection(connection, reason))
        connection.on(connection.EVENT_PAIRING, lambda keys: self._on_pairing(connection, keys))
        connection.on(connection.EVENT_PAIRING_FAILURE, lambda reason: self._on_pairing_failure(connection, reason))

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        logger.info("disconnected: %s (%s)", connection.peer_address, hci.HCI_Constant.error_name(reason))
        self.gatt.mitm_handles.discard(connection.handle)
        if self.connection is connection:
            self.connection = None
            self._audio_backlog.clear()
            self.core.disconnected()

    def _on_pairing(self, connection: Connection, keys: PairingKeys) -> None:
        mitm = keys.ltk is not None and keys.ltk.authenticated
        if mitm:
            self.gatt.mitm_handles.add(connection.handle)
            self.announce("paired")
        else:
            self.gatt.mitm_handles.discard(connection.handle)
            logger.warning("bonded without MITM protection (Just Works): audio and control stay refused")
        self.counters["pairings" if mitm else "pairings_without_mitm"] += 1
        self.core.pairing_done(mitm)

    def _on_pairing_failure(self, connection: Connection, reason: int) -> None:
        logger.warning("pairing failed: %s", reason)
        self.counters["pairing_failures"] += 1
        self.core.pairing_done(False)  # pairing mode stays on: the user can type the passkey again
        # Drop the link, as earbuds do after a failed pairing: the host reconnects for its next try, and Bumble's
        # SMP keeps one (now finished) session per link, so a retry on the same link would go unanswered.
        asyncio.get_running_loop().create_task(self._disconnect(connection, hci.HCI_AUTHENTICATION_FAILURE_ERROR))

    async def _disconnect(self, connection: Connection, reason: int) -> None:
        await asyncio.sleep(0.1)  # let the Pairing Failed PDU go out first
        try:
            await connection.disconnect(reason)
        except Exception:  # already gone
            pass

    def _on_subscription(self, connection: Connection, characteristic: Characteristic, enabled: bool) -> None:
        if characteristic is self.gatt.audio_up and connection is self.connection:
            self.core.set_streaming(enabled)
            if not enabled:
                self._audio_backlog.clear()

    def _on_control(self, connection: Connection, data: bytes) -> None:
        self.core.control_written(data)
        asyncio.get_running_loop().create_task(self._send_status_notifications())  # answer now, not next tick

    def _on_audio_down(self, connection: Connection, data: bytes) -> None:
        if len(data) > 1 and data[1] & FLAG_START:
            # When each reply stream began arriving (wall clock), so tools can measure turn latency end to end.
            self.speaker_stream_starts.append(round(time.time(), 4))
        self.core.audio_down_written(data)

    # -- the 20 ms tick ---------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        next_tick = time.monotonic()
        while True:
            next_tick += TICK_S
            delay = next_tick - time.monotonic()
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
            self._audio_backlog.extend(frames)
            while len(self._audio_backlog) > MAX_AUDIO_BACKLOG:
                self._audio_backlog.popleft()
                self.counters["audio_frames_dropped"] += 1
        self._pump_audio()
        await self._send_status_notifications()
        if self.live_speaker is not None:
            self.live_speaker.write(self.core.speaker_pull(TICK_SAMPLES))
        elif self.speaker is not None:
            self.speaker.write(self.core.speaker_pull(TICK_SAMPLES))
        else:
            self.core.speaker_pull(TICK_SAMPLES)

    def _mic_frames(self) -> list[bytes]:
        """This tick's audio-up frames (the swarm replays pre-encoded ones instead)."""
        frames = self.core.mic_tick()
        if self.options.misbehave_audio_in_quiet and self.core.quiet:
            frames = self._misbehave_frames()
        return frames

    def _misbehave_frames(self) -> list[bytes]:
        """--misbehave-audio-in-quiet: read the mic behind the core's back and send it although quiet."""
        if not (self.core.connected_now and self.core.streaming):
            return []
        if not self.hal.mic_on:
            self.hal.mic_start()
        if self._misbehave_encoder is None:
            from protocol.audio import FrameEncoder

            self._misbehave_encoder = FrameEncoder()
        frames: list[bytes] = []
        for _ in range(MIC_MAX_BLOCKS_PER_TICK):  # read as the core does
            block = self.hal.mic_read(MIC_BLOCK_SAMPLES)
            if block is None:
                break
            frames.extend(self._misbehave_encoder.encode(block))
        self.counters["audio_frames_misbehaved_in_quiet"] += len(frames)
        return frames

    def _pump_audio(self) -> None:
        """Hand queued audio frames to Bumble while the link keeps up (called per tick and on ACL flow)."""
        connection = self.connection
        if connection is None or self.device is None:
            return
        queue = self.device.host.le_acl_packet_queue
        while self._audio_backlog and queue is not None and queue.pending < MAX_LINK_PENDING:
            frame = self._audio_backlog.popleft()
            if connection.att_mtu < AUDIO_FRAME_MIN_MTU:
                self.counters["audio_frames_dropped_small_mtu"] += 1
                continue
            if not self.gatt.is_subscribed(connection, self.gatt.audio_up):
                continue
            # Subscription was only possible with an MITM bond (the CCCD is guarded), so this is safe to send.
            self.device.gatt_server.send_gatt_pdu(connection, _notification(self.gatt.audio_up.handle, frame))
            self.counters["audio_frames_sent"] += 1

    async def _send_status_notifications(self) -> None:
        values = self.core.take_notifications()
        connection = self.connection
        if not values or connection is None or not self.gatt.is_subscribed(connection, self.gatt.status):
            return
        for value in values:
            await self.device.notify_subscriber(connection, self.gatt.status, value)
            self.counters["status_notifications"] += 1

    # -- 1 s housekeeping -------------------------------------------------------------------------------

    async def _housekeeping_loop(self) -> None:
        last_battery = None
        while True:
            await asyncio.sleep(1.0)
            try:
                self.core.housekeeping()
                battery = min(self.core.battery, 100)
                if battery != last_battery and self.connection is not None:
                    await self.device.notify_subscriber(
                        self.connection, self.gatt.battery_service.battery_level_characteristic, battery
                    )
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
            self._audio_backlog.clear()  # privacy: audio still queued does not leave once the switch is on

    def press(self, event: int) -> None:
        self.core.button(event)

    def set_battery(self, percent: int) -> None:
        self.hal.battery = float(percent)
        self.hal.save_board()

    def status(self) -> dict:
        stats = dict(self.core.stats)
        stats["audio_frames_encoded"] = stats.pop("audio_frames_sent", 0)
        stats.update(
            {
                "name": self.options.name,
                "address": getattr(self, "address", None),
                "connected": self.connection is not None,
                "peer": str(self.connection.peer_address) if self.connection else None,
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
                "speaker_stream_starts": list(self.speaker_stream_starts),
                "att_refused": self.gatt.refused,
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
        stats.update(self.counters)
        return stats

    def _write_stats(self) -> None:
        if self.options.stats is None:
            return
        write_json_atomic(self.options.stats, self.status())


def _notification(handle: int, value: bytes) -> bytes:
    from bumble.att import ATT_Handle_Value_Notification

    return bytes(ATT_Handle_Value_Notification(attribute_handle=handle, attribute_value=value))


BUTTONS = {"press": control.BUTTON_PRESS, "double": control.BUTTON_DOUBLE, "long": control.BUTTON_LONG}
