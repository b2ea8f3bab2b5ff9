"""One Bumble host (a `bumble.device.Device`) per transport and event loop, shared by our bleak scanner and clients.

A real adapter is one controller that scans and holds several connections at once; sharing one Device per
transport keeps that true here (a CLI `pair` scans, then connects, on the same controller, and `earpiece run`
holds all its earbuds on one). Bumble objects need the loop that uses them, so stacks are per event loop.
The host's identity (random static address + IRK) and the bond store come from data_dir, so every process of
ours is the same Bluetooth host to an earbud.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from bumble import hci
from bumble.device import Connection, Device, DeviceConfiguration
from bumble.pairing import PairingConfig
from bumble.transport import open_transport

from host.link.bumble_backend.bonds import bond_store
from host.link.bumble_backend.log_privacy import protect_bumble_logs
from host.link.bumble_backend.pairing import PasskeyProvider, pairing_config
from host.link.errors import TransportError
from host.link.identity import load_or_create_identity

logger = logging.getLogger(__name__)

class BumbleStack:
    """A powered-on Bumble Device on one transport."""

    def __init__(self, transport_spec: str) -> None:
        self.transport_spec = transport_spec
        self.device: Device | None = None
        self._transport: Any = None
        self.users = 0
        # Passkey providers of `pair` calls in progress, by connection handle.
        self.passkey_providers: dict[int, PasskeyProvider] = {}
        # Called when the transport dies (each client marks itself disconnected).
        self.lost_callbacks: set[Callable[[], None]] = set()
        # Scanners running on this device: scanning stops when the last one stops.
        self.scanners = 0
        # A controller has one pending LE connection at a time: clients take turns.
        self.connect_lock = asyncio.Lock()
        # Central connections no client has taken yet, by peer address: normally claimed at once by the client
        # that asked, but a connection that completes after its client gave up (a controller that ignored the
        # cancel, as the virtual one does) waits here for the next client of that peer instead of leaking.
        self._unclaimed: dict[str, Connection] = {}
        self._arrivals = asyncio.Condition()

    async def open(self) -> None:
        identity = load_or_create_identity()
        try:
            self._transport = await open_transport(self.transport_spec)
        except Exception as error:
            raise TransportError(
                f"cannot open Bluetooth transport {self.transport_spec!r}: {error}; check --adapter and that the "
                "radio or dongle is there"
            ) from error
        protect_bumble_logs()  # the transport's modules are imported now: their loggers exist
        config = DeviceConfiguration()
        config.name = "Earpiece host"
        config.address = hci.Address(identity.address, hci.Address.RANDOM_DEVICE_ADDRESS)
        config.irk = identity.irk
        config.identity_address_type = hci.Address.RANDOM_DEVICE_ADDRESS
        config.advertising_data = b""
        device = Device.from_config_with_hci(config, self._transport.source, self._transport.sink)
        device.keystore = bond_store()
        device.pairing_config_factory = self._pairing_config
        device.on(device.EVENT_CONNECTION, self._on_connection)
        await device.power_on()
        self.device = device
        # The transport dying (radio gone, dongle unplugged) must end our connections, not hang them.
        self._transport.source.terminated.add_done_callback(lambda _: self._on_transport_lost())

    def _on_connection(self, connection: Connection) -> None:
        if connection.role != hci.Role.CENTRAL:
            return
        key = str(connection.peer_address)
        self._unclaimed[key] = connection

        def gone(*_: object) -> None:
            if self._unclaimed.get(key) is connection:
                del self._unclaimed[key]

        connection.on(connection.EVENT_DISCONNECTION, gone)

        async def announce() -> None:
            async with self._arrivals:
                self._arrivals.notify_all()

        asyncio.get_running_loop().create_task(announce())

    def claim(self, peer: str) -> Connection | None:
        """Take the connection to `peer` that nobody has claimed yet, if there is one."""
        return self._unclaimed.pop(peer, None)

    async def wait_for_connection(self, peer: str) -> Connection:
        """Wait until a connection to `peer` arrives (one an earlier attempt left pending)."""
        async with self._arrivals:
            await self._arrivals.wait_for(lambda: peer in self._unclaimed)
        connection = self.claim(peer)
        assert connection is not None
        return connection

    def _on_transport_lost(self) -> None:
        if self.device is None:
            return
        logger.warning("Bluetooth transport %s lost", self.transport_spec)
        self.device = None
        for callback in list(self.lost_callbacks):
            try:
                callback()
            except Exception:
                logger.exception("transport-lost callback failed")

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        return pairing_config(self.passkey_providers.get(connection.handle))

    async def close(self) -> None:
        device, self.device = self.device, None
        try:
            if device is not None:
                for connection in list(device.connections.values()):
                    try:
                        await asyncio.wait_for(connection.disconnect(), 2.0)
                    except Exception:  # already gone, or the transport died: nothing to do
                        pass
        finally:
            if self._transport is not None:
                try:
                    await self._transport.close()
                except Exception as error:
                    logger.debug("closing transport %s: %s", self.transport_spec, error)


# (event loop, transport spec) -> stack
_stacks: dict[tuple[int, str], BumbleStack] = {}
_locks: dict[tuple[int, str], asyncio.Lock] = {}


async def acquire_stack(transport_spec: str) -> BumbleStack:
    """Get (opening if needed) the shared stack for `transport_spec` in the running loop. Pair with release_stack."""
    key = (id(asyncio.get_running_loop()), transport_spec)
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        stack = _stacks.get(key)
        if stack is None or stack.device is None:  # none yet, or its transport died: open a fresh one
            stack = BumbleStack(transport_spec)
            await stack.open()
            _stacks[key] = stack
        stack.users += 1
        return stack


async def release_stack(stack: BumbleStack) -> None:
    """Drop one user; the last one closes the transport."""
    key = (id(asyncio.get_running_loop()), stack.transport_spec)
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        stack.users -= 1
        if stack.users > 0:
            return
        if _stacks.get(key) is stack:
            del _stacks[key]
    await stack.close()


@asynccontextmanager
async def held_stack(transport_spec: str) -> AsyncIterator[BumbleStack]:
    """Keep one transport open across several scanners/clients (e.g. scan, then connect, in one command)."""
    stack = await acquire_stack(transport_spec)
    try:
        yield stack
    finally:
        await release_stack(stack)
