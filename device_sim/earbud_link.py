"""The simulated earbud's Bluetooth side: a Bumble peripheral on the virtual radio, wired to the firmware core.

It advertises, accepts connections, pairs by speaking its passkey into the ear, serves the GATT table
(device_sim/earbud_gatt.py) and moves bytes: control and audio-down writes into the core, status and audio-up
notifications out of it. Audio up waits in a small backlog paced by Bumble's ACL flow, as a firmware's TX ring
would. Bonds and the address live in the earbud's state directory.
"""

from __future__ import annotations

import asyncio
import collections
import logging
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

from device_sim.earbud_gatt import EarbudGatt
from device_sim.errors import EarbudError
from earbud.core import EarbudCore
from protocol import gatt as layout
from protocol.audio import FLAG_START

logger = logging.getLogger(__name__)

ADVERTISING_INTERVAL_MS = 40
ADVERTISING_PAYLOAD = 31
AUDIO_FRAME_MIN_MTU = 171  # 168-byte frame + 3 bytes of ATT header; smaller MTUs would truncate frames
# Audio frames handed to Bumble but not yet acknowledged by the peer: about 2 connection events' worth at the
# default interval. Beyond it frames wait in our queue, so a slow link delays audio instead of piling up in
# Bumble's unbounded queue.
MAX_LINK_PENDING = 4
# Frames we hold back while the link is slow (~320 ms of audio); the oldest is dropped past that, as a
# firmware with a small TX ring would. The host conceals the gap.
MAX_AUDIO_BACKLOG = 16


def advertising_data(name: str) -> bytes:
    """Flags, the 128-bit Earpiece service UUID and the name (shortened to fit 31 bytes), all primary."""
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


def load_or_make_address(state_dir: Path, given: str | None) -> hci.Address:
    """The given address, else the one this earbud used before, else a new random static one; saved."""
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

    def __init__(self, link: EarbudLink) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY)
        self.link = link

    async def accept(self) -> bool:
        accepted = self.link.core.pairing_mode
        if not accepted:
            logger.info("pairing refused: not in pairing mode (long-press the button to pair)")
        return accepted

    async def generate_passkey(self) -> int:
        fixed = self.link.passkey
        # Never 000000: Bumble (and so some hosts) treat a passkey of 0 as "no passkey".
        return fixed if fixed is not None else 1 + secrets.randbelow(999_999)

    async def display_number(self, number: int, digits: int) -> None:
        self.link.core.speak_passkey(number)
        self.link.announce(f"passkey: {number:06d}")


class EarbudLink:
    """One earbud's peripheral: open_radio(), then start(core, ...) once the core exists; close() at the end."""

    def __init__(self, name: str, state_dir: Path, passkey: int | None, announce: Callable[[str], None],
                 counters: collections.Counter[str]) -> None:
        self.name = name
        self.state_dir = state_dir
        self.passkey = passkey
        self.announce = announce
        self.counters = counters  # shared with the earbud's stats
        self.connection: Connection | None = None
        self.device: Device | None = None
        self.transport = None
        self.core: EarbudCore | None = None
        self.on_connected: Callable[[], None] = lambda: None  # a new link: the earbud rewinds its mic's world
        self.speaker_stream_starts: collections.deque[float] = collections.deque(maxlen=64)
        self._audio_backlog: collections.deque[bytes] = collections.deque()

    async def open_radio(self, radio: str) -> None:
        """Attach to the radio at HOST:PORT; EarbudError saying how to start it if it is not there."""
        try:
            self.transport = await open_transport(f"tcp-client:{radio}")
        except OSError as error:
            raise EarbudError(
                f"cannot reach the radio at {radio} ({error.strerror or error}); "
                "start it with `earpiece-sim radio` and pass its address with --radio"
            ) from error

    async def start(self, core: EarbudCore, address: hci.Address, *, model: str, firmware: str) -> str:
        """Power on, serve the GATT table and advertise; returns the address as text. Enters pairing mode when
        no bond is kept (first boot, or all bonds forgotten)."""
        self.core = core
        device = Device.with_hci(self.name, address, self.transport.source, self.transport.sink)
        self.device = device
        device.keystore = JsonKeyStore(namespace=None, filename=str(self.state_dir / "bonds.json"))
        device.pairing_config_factory = lambda _connection: PairingConfig(
            sc=True, mitm=True, bonding=True, delegate=_EarbudPairing(self)
        )
        self.gatt = EarbudGatt(
            device, model=model, firmware=firmware, battery=lambda: min(core.battery, 100),
            status_value=core.status_value, on_control=self._on_control, on_audio_down=self._on_audio_down,
            on_subscription=self._on_subscription,
        )
        device.on(device.EVENT_CONNECTION, self._on_connection)
        await device.power_on()
        device.host.le_acl_packet_queue.on("flow", self.pump_audio)
        if not await device.keystore.get_all():
            core.enter_pairing_mode()
        await device.start_advertising(
            auto_restart=True,
            advertising_data=advertising_data(self.name),
            scan_response_data=bytes(AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME,
                                                       self.name.encode("utf-8")[:29])])),
            # Fast advertising, as earbuds do while they expect their host back: a dropped link is restored in
            # well under a second instead of waiting for a slow 1 s advertisement.
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )
        return str(address).split("/")[0]

    async def close(self) -> None:
        try:
            if self.connection is not None:
                await asyncio.wait_for(self.connection.disconnect(), 1.0)
        except Exception:  # the radio may already be gone
            pass
        try:
            if self.transport is not None:
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
        self.on_connected()
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
        asyncio.get_running_loop().create_task(self.send_status_notifications())  # answer now, not next tick

    def _on_audio_down(self, connection: Connection, data: bytes) -> None:
        if len(data) > 1 and data[1] & FLAG_START:
            # When each reply stream began arriving (wall clock), so tools can measure turn latency end to end.
            self.speaker_stream_starts.append(round(time.time(), 4))
        self.core.audio_down_written(data)

    # -- outgoing ---------------------------------------------------------------------------------------

    def queue_audio(self, frames: list[bytes]) -> None:
        """Audio-up frames for the host, sent as the link keeps up; the oldest dropped past the backlog."""
        self._audio_backlog.extend(frames)
        while len(self._audio_backlog) > MAX_AUDIO_BACKLOG:
            self._audio_backlog.popleft()
            self.counters["audio_frames_dropped"] += 1

    def drop_queued_audio(self) -> None:
        self._audio_backlog.clear()

    def pump_audio(self) -> None:
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

    async def send_status_notifications(self) -> None:
        values = self.core.take_notifications()
        connection = self.connection
        if not values or connection is None or not self.gatt.is_subscribed(connection, self.gatt.status):
            return
        for value in values:
            await self.device.notify_subscriber(connection, self.gatt.status, value)
            self.counters["status_notifications"] += 1

    async def notify_battery(self, percent: int) -> None:
        if self.connection is not None:
            await self.device.notify_subscriber(
                self.connection, self.gatt.battery_service.battery_level_characteristic, percent
            )


def _notification(handle: int, value: bytes) -> bytes:
    from bumble.att import ATT_Handle_Value_Notification

    return bytes(ATT_Handle_Value_Notification(attribute_handle=handle, attribute_value=value))
