"""A plain Bumble central on the virtual radio, for tests (not host/: it proves the earbud on its own terms).

    async with TestCentral(radio.transport_spec, tmp_path / "keys.json") as central:
        ad = await central.find(name="Earpiece-Test")            # the Advertisement (address, data)
        connection, peer = await central.connect(ad.address)     # GATT discovered, MTU 247
        central.passkey_source = lambda: bud.wait_for_passkey()  # what the "user" types when pairing
        await connection.pair()
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bumble import hci
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.keys import JsonKeyStore
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport

from protocol import gatt as layout

CENTRAL_ADDRESS = "E0:00:00:00:00:01"


class _KeyboardDelegate(PairingDelegate):
    """A central with a keyboard: the user types the passkey the earbud speaks."""

    def __init__(self, central: TestCentral, io: PairingDelegate.IoCapability) -> None:
        super().__init__(io_capability=io)
        self.central = central

    async def get_number(self) -> int | None:
        if self.central.passkey_source is None:
            return None
        return await asyncio.to_thread(self.central.passkey_source)


class TestCentral:
    __test__ = False  # not a pytest test class

    def __init__(self, transport_spec: str, keystore_path: str | None = None, address: str = CENTRAL_ADDRESS,
                 io: PairingDelegate.IoCapability = PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY,
                 mitm: bool = True) -> None:
        self.transport_spec = transport_spec
        self.keystore_path = keystore_path
        self.address = address
        self.io = io
        self.mitm = mitm
        self.passkey_source: Callable[[], int] | None = None
        self.device: Device | None = None

    async def __aenter__(self) -> TestCentral:
        self.transport = await open_transport(self.transport_spec)
        device = Device.with_hci("test-central", hci.Address(self.address), self.transport.source, self.transport.sink)
        if self.keystore_path:
            device.keystore = JsonKeyStore(namespace=None, filename=str(self.keystore_path))
        device.pairing_config_factory = lambda _c: PairingConfig(
            sc=True, mitm=self.mitm, bonding=True, delegate=_KeyboardDelegate(self, self.io)
        )
        await device.power_on()
        self.device = device
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.device is not None:
            for connection in list(self.device.connections.values()):
                try:
                    await asyncio.wait_for(connection.disconnect(), 2)
                except Exception:
                    pass
        await self.transport.close()

    async def find(self, name: str | None = None, service_uuid: str | None = None,
                   timeout: float = 10.0) -> Advertisement:
        """The first primary advertisement whose name (complete or shortened) and service UUID match."""
        assert self.device is not None
        found: asyncio.Future[Advertisement] = asyncio.get_running_loop().create_future()

        def on_advertisement(ad: Advertisement) -> None:
            if ad.is_scan_response:
                return  # only the primary advertising data counts (a passive scanner sees nothing else)
            names = [ad.data.get(ad.data.COMPLETE_LOCAL_NAME), ad.data.get(ad.data.SHORTENED_LOCAL_NAME)]
            uuids = ad.data.get(ad.data.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS) or []
            if name is not None and name not in names:
                return
            if service_uuid is not None and service_uuid not in [str(u).lower() for u in uuids]:
                return
            if not found.done():
                found.set_result(ad)

        self.device.on("advertisement", on_advertisement)
        await self.device.start_scanning(filter_duplicates=False)
        try:
            return await asyncio.wait_for(found, timeout)
        finally:
            self.device.remove_listener("advertisement", on_advertisement)
            await self.device.stop_scanning()

    async def connect(self, address: str | hci.Address) -> tuple[Connection, Peer]:
        assert self.device is not None
        connection = await self.device.connect(address)
        peer = Peer(connection)
        await peer.request_mtu(layout.PREFERRED_MTU)
        await peer.discover_services()
        for service in peer.services:
            await service.discover_characteristics()
            for characteristic in service.characteristics:
                await characteristic.discover_descriptors()
        return connection, peer


def characteristic(peer: Peer, uuid: str | int) -> CharacteristicProxy:
    from bumble.core import UUID

    wanted = UUID.from_16_bits(uuid) if isinstance(uuid, int) else UUID(uuid)
    found = peer.get_characteristics_by_uuid(wanted)
    assert found, f"characteristic {uuid} not found"
    return found[0]


def run(coro, timeout: float = 60.0):
    """Run one async test body with a hard bound (Bumble objects must live in the loop that runs them)."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
