"""The earbud's GATT server (protocol/README.md §1): the Earpiece service, Battery and Device Information.

Security like a real earbud: every Earpiece characteristic — and the audio/status CCCDs, so nobody can even
subscribe — needs an encrypted link whose bond was made with MITM protection (LE Secure Connections passkey).
Bumble's own READ/WRITE_REQUIRES_AUTHENTICATION checks `connection.authenticated`, which a Just Works bond also
sets, so we check the bond's `keys.ltk.authenticated` ourselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bumble import att, gatt
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Descriptor, Service
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService

from protocol import gatt as layout

logger = logging.getLogger(__name__)

Props = Characteristic.Properties


class EarbudGatt:
    """Builds the attribute table and enforces the security rule; events go to the callbacks given."""

    def __init__(
        self,
        device: Device,
        *,
        model: str,
        firmware: str,
        battery: Callable[[], int],
        status_value: Callable[[], bytes],
        on_control: Callable[[Connection, bytes], None],
        on_audio_down: Callable[[Connection, bytes], None],
        on_subscription: Callable[[Connection, Characteristic, bool], None],
    ) -> None:
        self.device = device
        self._status_value = status_value
        self._on_control = on_control
        self._on_audio_down = on_audio_down
        self._on_subscription = on_subscription
        # Links known to be encrypted with an MITM key (from their pairing, or the key store, checked once).
        self.mitm_handles: set[int] = set()
        self.refused = 0  # ATT requests refused for lack of an authenticated bond

        self.audio_up = Characteristic(
            layout.AUDIO_UP_UUID, Props.NOTIFY, 0, CharacteristicValue(read=self._not_readable)
        )
        self.audio_down = Characteristic(
            layout.AUDIO_DOWN_UUID, Props.WRITE_WITHOUT_RESPONSE, Characteristic.WRITEABLE,
            CharacteristicValue(read=self._not_readable, write=self._write_audio_down),
        )
        self.control = Characteristic(
            layout.CONTROL_UUID, Props.WRITE, Characteristic.WRITEABLE,
            CharacteristicValue(read=self._not_readable, write=self._write_control),
        )
        self.status = Characteristic(
            layout.STATUS_UUID, Props.READ | Props.NOTIFY, Characteristic.READABLE,
            CharacteristicValue(read=self._read_status, write=self._not_writable),
        )
        for characteristic in (self.audio_up, self.status):
            characteristic.descriptors = [self._guarded_cccd(characteristic)]
        self.earpiece_service = Service(
            layout.SERVICE_UUID, [self.audio_up, self.audio_down, self.control, self.status]
        )
        self.battery_service = BatteryService(lambda _connection: battery())
        self.device_info_service = DeviceInformationService(
            manufacturer_name=layout.MANUFACTURER_NAME, model_number=model, firmware_revision=firmware
        )
        device.add_services([self.earpiece_service, self.battery_service, self.device_info_service])
        _refuse_writes_to_read_only(device.gatt_server)

    # -- the security rule ------------------------------------------------------------------------------

    async def has_mitm_bond(self, connection: Connection) -> bool:
        """True when this link is encrypted with a key from an authenticated (MITM) LE Secure Connections bond."""
        if not connection.is_encrypted:
            return False
        if connection.handle in self.mitm_handles:
            return True
        if self.device.keystore is None:
            return False
        keys = await self.device.keystore.get(str(connection.peer_address))
        if keys is not None and keys.ltk is not None and keys.ltk.authenticated:
            self.mitm_handles.add(connection.handle)  # the link key cannot change without a new pairing event
            return True
        return False

    async def _require_mitm(self, connection: Connection) -> None:
        if not await self.has_mitm_bond(connection):
            self.refused += 1
            # Bonded with MITM but not yet encrypted -> "encrypt first"; anything else -> "pair first".
            code = att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR
            if not connection.is_encrypted and self.device.keystore is not None:
                keys = await self.device.keystore.get(str(connection.peer_address))
                if keys is not None and keys.ltk is not None and keys.ltk.authenticated:
                    code = att.ATT_INSUFFICIENT_ENCRYPTION_ERROR
            raise att.ATT_Error(code)

    # -- attribute callbacks ----------------------------------------------------------------------------

    @staticmethod
    def _not_readable(_connection: Connection) -> bytes:
        raise att.ATT_Error(att.ATT_READ_NOT_PERMITTED_ERROR)

    @staticmethod
    def _not_writable(_connection: Connection, _value: bytes) -> None:
        raise att.ATT_Error(att.ATT_WRITE_NOT_PERMITTED_ERROR)

    async def _read_status(self, connection: Connection) -> bytes:
        await self._require_mitm(connection)
        return self._status_value()

    async def _write_control(self, connection: Connection, value: bytes) -> None:
        await self._require_mitm(connection)
        self._on_control(connection, bytes(value))

    async def _write_audio_down(self, connection: Connection, value: bytes) -> None:
        # Write without response: nothing to answer, an unauthenticated frame is just dropped (and counted).
        if not await self.has_mitm_bond(connection):
            self.refused += 1
            return
        self._on_audio_down(connection, bytes(value))

    def _guarded_cccd(self, characteristic: Characteristic) -> Descriptor:
        server = self.device.gatt_server

        async def read(bearer: Any) -> bytes:
            await self._require_mitm(_connection_of(bearer))
            return server.read_cccd(bearer, characteristic)

        async def write(bearer: Any, value: bytes) -> None:
            connection = _connection_of(bearer)
            await self._require_mitm(connection)
            server.write_cccd(bearer, characteristic, value)
            enabled = len(value) == 2 and bool(value[0] & 0x01)
            self._on_subscription(connection, characteristic, enabled)

        return Descriptor(
            gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
            Descriptor.READABLE | Descriptor.WRITEABLE,
            att.AttributeValueV2(read=read, write=write),
        )

    def is_subscribed(self, connection: Connection, characteristic: Characteristic) -> bool:
        cccd = self.device.gatt_server.subscribers.get(connection, {}).get(characteristic.handle)
        return bool(cccd and len(cccd) == 2 and cccd[0] & 0x01)


def _connection_of(bearer: Any) -> Connection:
    return bearer.connection if att.is_enhanced_bearer(bearer) else bearer


WRITE_PERMISSIONS = (att.Attribute.WRITEABLE | att.Attribute.WRITE_REQUIRES_ENCRYPTION
                     | att.Attribute.WRITE_REQUIRES_AUTHENTICATION | att.Attribute.WRITE_REQUIRES_AUTHORIZATION)


def _refuse_writes_to_read_only(server: Any) -> None:
    """Answer a write to a read-only attribute (a declaration, Battery Level, audio up, ...) with ATT error 0x03
    Write Not Permitted, and drop such a write command. Bumble's server does not check write permissions yet: a
    value without a write function left the central waiting 30 s for an answer (found by `make fuzz`), and a plain
    value was overwritten."""

    def writable(handle: int) -> bool:
        attribute = server.get_attribute(handle)
        return attribute is None or bool(attribute.permissions & WRITE_PERMISSIONS)

    write_request, write_command = server.on_att_write_request, server.on_att_write_command
    prepare_write = server.on_att_prepare_write_request

    def on_att_write_request(bearer: Any, request: Any) -> None:
        if not writable(request.attribute_handle):
            raise att.ATT_Error(att.ATT_WRITE_NOT_PERMITTED_ERROR, att_handle=request.attribute_handle)
        write_request(bearer, request)

    def on_att_prepare_write_request(bearer: Any, request: Any) -> None:  # a long write, in pieces
        if not writable(request.attribute_handle):
            raise att.ATT_Error(att.ATT_WRITE_NOT_PERMITTED_ERROR, att_handle=request.attribute_handle)
        prepare_write(bearer, request)

    def on_att_write_command(bearer: Any, request: Any) -> None:
        if writable(request.attribute_handle):
            write_command(bearer, request)

    server.on_att_write_request = on_att_write_request  # the server looks its handlers up by name per PDU
    server.on_att_write_command = on_att_write_command
    server.on_att_prepare_write_request = on_att_prepare_write_request
