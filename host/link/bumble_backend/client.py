"""`BumbleBleakClient`: bleak's client interface on a Bumble host (virtual radio or USB dongle).

Use through bleak: `BleakClient(address, backend=BumbleBleakClient, bumble={"transport": SPEC})`.

What it does like the native backends, so the same host code runs on both:
- `connect()` connects, re-encrypts with the stored bond if there is one (as BlueZ does when a bonded device
  connects), exchanges the ATT MTU (517 asked, the peer's limit wins) and discovers services.
- `pair(passkey=N | passkey_provider=async fn)` runs LE Secure Connections passkey entry (we type, the peer
  displays) and stores the bond in Bumble's JsonKeyStore under data_dir. A failed pairing leaves no bond behind,
  and a bond without MITM protection (Just Works) is refused and deleted.
- GATT errors surface as `bleak.exc.BleakGATTProtocolError` with the ATT error code.
- Write without response waits while the controller's ACL buffers are full, like CoreBluetooth's
  `canSendWriteWithoutResponse`, instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, hci
from bumble.core import BaseBumbleError, PhysicalTransport
from bumble.transport.common import TransportLostError
from bumble.device import Connection
from bumble.gatt_client import CharacteristicProxy

from host.link.bumble_backend import pairing
from host.link.bumble_backend.bonds import delete_bond
from host.link.bumble_backend.stack import BumbleStack, acquire_stack, release_stack
from host.link.bumble_backend.uuids import to_bleak
from host.link.errors import NotBondedError

logger = logging.getLogger(__name__)

REQUESTED_MTU = 517  # what BlueZ asks for; the earbud answers with its own limit
# Write-without-response packets allowed to wait in the host queue beyond what the controller holds.
MAX_QUEUED_WRITES = 4

# GATT characteristic property bits, as bleak names them.
_PROPERTY_NAMES = list(enumerate(["broadcast", "read", "write-without-response", "write", "notify", "indicate",
                                  "authenticated-signed-writes", "extended-properties"]))


def _peer_address(address_or_device: BLEDevice | str) -> hci.Address:
    if isinstance(address_or_device, BLEDevice) and isinstance(address_or_device.details, hci.Address):
        return address_or_device.details
    text = address_or_device.address if isinstance(address_or_device, BLEDevice) else address_or_device
    # "/P" marks a public address; earbuds use random static ones.
    return hci.Address(text, hci.Address.RANDOM_DEVICE_ADDRESS)


def _att_error(error: att.ATT_Error) -> BleakGATTProtocolError:
    return BleakGATTProtocolError(int(error.error_code))


class BumbleBleakClient(BaseBleakClient):
    """bleak client backend on Bumble. Extra keyword: `bumble={"transport": SPEC}` (a Bumble transport spec)."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        services: set[str] | None = None,
        bumble: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        options = bumble or {}
        if "transport" not in options:
            raise ValueError('BumbleBleakClient needs bumble={"transport": "<bumble transport spec>"}')
        self._transport_spec: str = options["transport"]
        self._peer = _peer_address(address_or_ble_device)
        self._name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        self._services_filter = services
        self._stack: BumbleStack | None = None
        self._connection: Connection | None = None
        self._disconnect_requested = False
        self._notify_handlers: dict[int, Callable[[bytes], None]] = {}

    # -- properties ---------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name or self.address

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    @property
    def connection(self) -> Connection | None:
        """The Bumble connection (for diagnostics; not part of the bleak API)."""
        return self._connection

    @property
    def is_encrypted(self) -> bool:
        return self._connection is not None and bool(self._connection.is_encrypted)

    # -- connectivity -------------------------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        timeout = float(kwargs.get("timeout", self._timeout))
        if self._connection is not None:
            return
        self._stack = await acquire_stack(self._transport_spec)
        try:
            await _not_cancelled_by_bumble(asyncio.wait_for(self._connect(pair), timeout), self.address)
        except asyncio.TimeoutError:
            await self._teardown()
            raise BleakDeviceNotFoundError(
                self.address, f"Device with address {self.address} was not found (no answer within {timeout:.0f} s)"
            ) from None
        except BaseException:
            await self._teardown()
            raise

    async def _connect(self, pair: bool) -> None:
        assert self._stack is not None and self._stack.device is not None
        device = self._stack.device
        self._disconnect_requested = False
        started = time.monotonic()
        connection = await self._create_connection(device)
        logger.debug("%s: connected in %.3f s", self.address, time.monotonic() - started)
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._stack.lost_callbacks.add(self._on_transport_lost)

        if await self._bond_keys() is not None:
            try:
                await connection.encrypt()
            except hci.HCI_Error as error:
                # PIN_OR_KEY_MISSING: the earbud no longer has our bond.
                raise NotBondedError(
                    f"{self.address} refused the stored pairing ({error.error_name}): run `earpiece forget "
                    f"{self.address}` then `earpiece pair` again"
                ) from error
        elif pair:
            await self.pair()
        logger.debug("%s: secured at %.3f s", self.address, time.monotonic() - started)

        await connection.gatt_client.request_mtu(REQUESTED_MTU)
        self.services = await self._discover_services()
        logger.debug("%s: services discovered at %.3f s", self.address, time.monotonic() - started)

    async def _create_connection(self, device) -> Connection:
        assert self._stack is not None
        stack = self._stack
        peer = str(self._peer)
        async with stack.connect_lock:
            connection = stack.claim(peer)
            if connection is not None:
                return connection  # an earlier attempt's connection completed after it gave up
            try:
                connection = await device.connect(self._peer, transport=PhysicalTransport.LE, timeout=None)
            except hci.HCI_Error as error:
                if error.error_code != hci.HCI_COMMAND_DISALLOWED_ERROR:
                    raise BleakError(f"connection to {self.address} failed: {error}") from error
                # The controller still holds an abandoned attempt (its cancel was ignored): when that one
                # completes, it is ours if it is to our peer. Our caller's timeout bounds the wait.
                logger.debug("%s: controller busy with an earlier attempt; waiting for it", self.address)
                return await stack.wait_for_connection(peer)
            except asyncio.CancelledError:
                # Abandoned (timeout): ask the controller to stop trying, so the next attempt can start.
                if stack.device is not None:
                    try:
                        await asyncio.shield(stack.device.send_command(hci.HCI_LE_Create_Connection_Cancel_Command()))
                    except Exception as error:  # nothing pending any more, or the transport is gone
                        logger.debug("connection cancel: %s", error)
                raise
            except BaseBumbleError as error:
                raise BleakError(f"connection to {self.address} failed: {error}") from error
            stack.claim(peer)
            return connection

    async def _bond_keys(self):
        assert self._stack is not None and self._stack.device is not None
        keystore = self._stack.device.keystore
        if keystore is None:
            return None
        keys = await keystore.get(str(self._peer))
        return keys if keys is not None and (keys.ltk or keys.ltk_central) else None

    def _on_disconnection(self, reason: int) -> None:
        logger.debug("%s disconnected (reason 0x%02X)", self.address, reason)
        self._lost()

    def _on_transport_lost(self) -> None:
        if self._connection is not None:
            logger.debug("%s: transport lost", self.address)
            self._lost()

    def _lost(self) -> None:
        was_connected = self._connection is not None
        self._connection = None
        self._notify_handlers.clear()
        if was_connected and not self._disconnect_requested and self._disconnected_callback is not None:
            self._disconnected_callback()
        # Give our share of the transport back (the loop may be gone if the process is exiting).
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.lost_callbacks.discard(self._on_transport_lost)
            try:
                asyncio.get_running_loop().create_task(release_stack(stack))
            except RuntimeError:
                pass

    async def _teardown(self) -> None:
        connection, self._connection = self._connection, None
        stack, self._stack = self._stack, None
        if connection is not None:
            try:
                await asyncio.wait_for(connection.disconnect(), 3.0)
            except Exception as error:  # already gone: nothing to tear down
                logger.debug("disconnect %s: %s", self.address, error)
        if stack is not None:
            stack.lost_callbacks.discard(self._on_transport_lost)
            await release_stack(stack)

    async def disconnect(self) -> None:
        self._disconnect_requested = True
        await self._teardown()

    # -- pairing ------------------------------------------------------------------------------------------

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair with LE Secure Connections passkey entry (see pairing.py); raises PairingFailedError.

        Keywords: `passkey` (int, the number the earbud speaks) or `passkey_provider` (async callable returning
        it, called when the earbud has shown/spoken it). With neither, pairing is refused.
        """
        connection = self._require_connection()
        assert self._stack is not None
        await pairing.pair(
            connection,
            self.address,
            self._stack.passkey_providers,
            pairing.passkey_provider(kwargs),
            {str(self._peer)},
            lambda awaitable: _not_cancelled_by_bumble(awaitable, self.address),
        )

    async def _delete_bond(self) -> None:
        if self._stack is None or self._stack.device is None:
            return
        names = {str(self._peer)}
        if self._connection is not None:
            names.add(str(self._connection.peer_address))
        await pairing.delete_keys(self._stack.device.keystore, names)

    async def unpair(self) -> None:
        """Delete the bond we hold for this peer (and disconnect, as bleak specifies). Works while disconnected."""
        if self._stack is None:
            await delete_bond(str(self._peer))
            return
        await self._delete_bond()
        await self.disconnect()

    # -- GATT ---------------------------------------------------------------------------------------------

    async def _gatt(self, awaitable):
        """Await a Bumble GATT operation; its failures become bleak's exceptions."""
        try:
            return await _not_cancelled_by_bumble(awaitable, self.address)
        except att.ATT_Error as error:
            raise _att_error(error) from error
        except (BaseBumbleError, TransportLostError) as error:
            raise BleakError(f"{self.address}: {error}") from error

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BleakError("Not connected")
        return self._connection

    async def _discover_services(self) -> BleakGATTServiceCollection:
        client = self._require_connection().gatt_client
        collection = BleakGATTServiceCollection()
        await client.discover_services()
        for service in client.services:
            uuid = to_bleak(service.uuid)
            if self._services_filter and uuid not in self._services_filter:
                continue
            bleak_service = BleakGATTService(service, service.handle, uuid)
            collection.add_service(bleak_service)
            for characteristic in await service.discover_characteristics():
                props = [name for bit, name in _PROPERTY_NAMES if int(characteristic.properties) >> bit & 1]
                bleak_char = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    to_bleak(characteristic.uuid),
                    props,  # type: ignore[arg-type]
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                for descriptor in await characteristic.discover_descriptors():
                    collection.add_descriptor(
                        BleakGATTDescriptor(descriptor, descriptor.handle, to_bleak(descriptor.type), bleak_char)
                    )
        return collection

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        client = self._require_connection().gatt_client
        return bytearray(await self._gatt(client.read_value(characteristic.handle)))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        client = self._require_connection().gatt_client
        return bytearray(await self._gatt(client.read_value(descriptor.handle)))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool) -> None:
        connection = self._require_connection()
        value = bytes(data)
        if not response:
            await self._gatt(self._wait_for_acl_room(connection))
        await self._gatt(connection.gatt_client.write_value(characteristic.handle, value, with_response=response))

    async def _wait_for_acl_room(self, connection: Connection) -> None:
        queue = connection.device.host.le_acl_packet_queue
        if queue is None:
            return
        while queue.pending >= queue.max_in_flight + MAX_QUEUED_WRITES:
            flowed = asyncio.get_running_loop().create_future()

            def on_flow() -> None:
                if not flowed.done():
                    flowed.set_result(None)

            # `on`, not `once`: a `once` listener that has fired is gone, and removing it while other listeners
            # remain raised KeyError(on_flow): the frame that had waited for room was "not sent" (found by the soak).
            queue.on("flow", on_flow)
            try:
                await connection.cancel_on_disconnection(flowed)
            finally:
                queue.remove_listener("flow", on_flow)
            if self._connection is None:
                raise BleakError("Not connected")

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        client = self._require_connection().gatt_client
        await self._gatt(client.write_value(descriptor.handle, bytes(data), with_response=True))

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any) -> None:
        proxy: CharacteristicProxy = characteristic.obj
        client = self._require_connection().gatt_client

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        # Subscribe on the wire first: if the earbud refuses (ATT error), no handler is left registered.
        try:
            await self._gatt(client.subscribe(proxy, on_value, prefer_notify=True))
        except BleakError:
            client.notification_subscribers.pop(proxy.handle, None)
            client.indication_subscribers.pop(proxy.handle, None)
            raise
        self._notify_handlers[proxy.handle] = on_value

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        proxy: CharacteristicProxy = characteristic.obj
        client = self._require_connection().gatt_client
        handler = self._notify_handlers.pop(proxy.handle, None)
        await self._gatt(client.unsubscribe(proxy, handler, force=True))


async def _not_cancelled_by_bumble(awaitable, address: str):
    """Bumble aborts operations pending on a connection that drops by cancelling them. A CancelledError that
    does not come from our own task being cancelled is a disconnection: report it as one, never as a
    cancellation that would silently end the caller's task."""
    try:
        return await awaitable
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise BleakError(f"{address} disconnected") from None
