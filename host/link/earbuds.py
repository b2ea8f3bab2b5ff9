"""What the CLI does with earbuds: find them, pair, forget. All through bleak, and the Adapter for what differs
between backends (native: the OS pairs and keeps bonds; Bumble adapters `sim:`/`usb:`: we run SMP and keep them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from host.errors import EarpieceError
from host.link.adapter import Adapter
from host.link.errors import AmbiguousDeviceError, AmbiguousEarbudError, EarbudNotFoundError, PairingFailedError
from host.link.registry import DeviceRegistry, PairedDevice
from protocol import gatt

logger = logging.getLogger(__name__)

DEVICE_NAME_UUID = "00002a00-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"


@dataclass
class FoundEarbud:
    address: str
    name: str
    rssi: int
    paired: bool
    device: BLEDevice
    name_shortened: bool = False  # only a shortened name was advertised (it did not fit in 31 bytes)

    def to_json(self) -> dict:
        return {"address": self.address, "name": self.name, "rssi": self.rssi, "paired": self.paired}

    def may_be_named(self, name: str) -> bool:
        if self.name.lower() == name.lower():
            return True
        return self.name_shortened and name.lower().startswith(self.name.lower())


async def scan_earbuds(adapter: Adapter, timeout: float, registry: DeviceRegistry | None = None) -> list[FoundEarbud]:
    """Earpiece earbuds advertising within `timeout` seconds, strongest first."""
    registry = registry or DeviceRegistry()
    found = await BleakScanner.discover(
        timeout, return_adv=True, service_uuids=[gatt.SERVICE_UUID], **adapter.scanner_kwargs()
    )
    paired = {d.address for d in registry.all()}
    earbuds = [
        FoundEarbud(
            address=device.address.upper(),
            name=adv.local_name or device.name or device.address,
            rssi=adv.rssi,
            paired=device.address.upper() in paired,
            device=device,
            name_shortened=adapter.name_shortened(adv),
        )
        for device, adv in found.values()
        if gatt.SERVICE_UUID in adv.service_uuids  # some backends do not filter themselves
    ]
    return sorted(earbuds, key=lambda e: -e.rssi)


async def find_in_range(adapter: Adapter, target: str, timeout: float) -> FoundEarbud:
    """The one earbud in range whose address or advertised name is `target`."""
    matches: list[FoundEarbud] = []
    deadline = asyncio.get_running_loop().time() + timeout
    # Scan in short rounds so a present earbud is found quickly, up to `timeout` in all.
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        earbuds = await scan_earbuds(adapter, min(1.0, max(remaining, 0.1)))
        matches = (
            [e for e in earbuds if e.address == target.upper()]
            or [e for e in earbuds if e.name.lower() == target.lower()]
            or [e for e in earbuds if e.may_be_named(target)]
        )
        if matches or remaining <= 1.0:
            break
    if not matches:
        raise EarbudNotFoundError(
            f"no Earpiece earbud {target!r} in range: is it on and in pairing mode (long-press its button)? "
            "`earpiece scan` lists what is in range"
        )
    if len(matches) > 1:
        listed = ", ".join(f"{e.name} ({e.address})" for e in matches)
        raise AmbiguousEarbudError(
            f"{target!r} matches {len(matches)} earbuds: {listed}; give the address instead",
            [e.to_json() for e in matches],
        )
    return matches[0]


async def pair_earbud(
    adapter: Adapter,
    target: str,
    passkey_provider: Callable[[], Awaitable[int | None]],
    registry: DeviceRegistry | None = None,
    scan_timeout: float = 10.0,
    connect_timeout: float = 20.0,
) -> PairedDevice:
    """Pair with the earbud `target` (name or address) and record it in the registry.

    Raises EarbudNotFoundError, AmbiguousEarbudError, PairingFailedError (wrong passkey etc.: no bond is left)."""
    registry = registry or DeviceRegistry()
    async with adapter.hold():
        earbud = await find_in_range(adapter, target, scan_timeout)
        if not adapter.is_native and registry.get(earbud.address) is None and await adapter.has_bond(earbud.address):
            # A bond but no registry entry: an earlier `pair` was stopped between the two. The earbud has left
            # pairing mode, so pairing anew would be refused; a bond that still opens the earbud is adopted.
            adopted = await _adopt_bond(adapter, earbud, connect_timeout)
            if adopted is not None:
                return registry.add(earbud.address, adopted[0], adapter.spec, model=adopted[1], firmware=adopted[2])
        # An old bond is dropped by the adapter's pair() when pairing starts (the user asked to pair again).
        client = BleakClient(earbud.device, timeout=connect_timeout, **adapter.client_kwargs())
        await client.connect()
        try:
            await adapter.pair(client, passkey_provider)
            # Prove the bond opens the protected service (and learn what the earbud is).
            await client.read_gatt_char(gatt.STATUS_UUID)
            model = await _read_text(client, MODEL_NUMBER_UUID)
            firmware = await _read_text(client, FIRMWARE_REVISION_UUID)
            # The advertised name may be shortened; the GAP Device Name is the whole one.
            name = await _read_text(client, DEVICE_NAME_UUID) or earbud.name
        except BaseException as error:
            # No bond survives a failed attempt, except when the earbud refused to pair at all: it kept its side
            # of the old bond, and the adapter put ours back.
            refused = isinstance(error, PairingFailedError) and error.reason == "PAIRING_NOT_SUPPORTED"
            if not adapter.is_native and not refused:
                await adapter.delete_bond(earbud.address)
            raise
        finally:
            await client.disconnect()
    return registry.add(earbud.address, name, adapter.spec, model=model, firmware=firmware)


async def _adopt_bond(adapter: Adapter, earbud, connect_timeout: float) -> tuple[str, str | None, str | None] | None:
    """(name, model, firmware) when the bond we hold still opens the earbud's protected service, else None."""
    client = BleakClient(earbud.device, timeout=connect_timeout, **adapter.client_kwargs())
    try:
        await client.connect()
        await client.read_gatt_char(gatt.STATUS_UUID)  # encrypted with the bond: only works if the earbud kept it
        model = await _read_text(client, MODEL_NUMBER_UUID)
        firmware = await _read_text(client, FIRMWARE_REVISION_UUID)
        name = await _read_text(client, DEVICE_NAME_UUID) or earbud.name
    except (BleakError, TimeoutError, asyncio.TimeoutError, EarpieceError) as error:
        logger.info("the bond left by an interrupted pairing with %s no longer works (%s): pairing anew",
                    earbud.address, error)
        return None
    finally:
        await client.disconnect()
    logger.info("adopted the bond left by an interrupted pairing with %s", earbud.address)
    return name, model, firmware


async def _read_text(client: BleakClient, uuid: str) -> str | None:
    try:
        return bytes(await client.read_gatt_char(uuid)).decode("utf-8", "replace")
    except (BleakError, KeyError):
        return None


def resolve_paired(registry: DeviceRegistry, target: str) -> PairedDevice:
    """A paired earbud by name or address; clear errors for unknown and ambiguous."""
    try:
        device = registry.find(target)
    except AmbiguousDeviceError as error:
        raise AmbiguousEarbudError(str(error), [d.to_json() for d in error.matches]) from error
    if device is None:
        raise EarbudNotFoundError(f"no paired earbud {target!r}: `earpiece devices` lists them, `earpiece pair` adds one")
    return device


async def forget_earbud(adapter: Adapter, device: PairedDevice, registry: DeviceRegistry | None = None) -> bool:
    """Remove our bond with `device` and its registry entry. Returns whether a bond was found and removed."""
    registry = registry or DeviceRegistry()
    removed_bond = await adapter.delete_bond(device.address)
    registry.remove(device.address)
    return removed_bond
