"""What the CLI does with earbuds: find them, pair, forget, and ask one how it is. All through bleak.

Native backends: pairing goes through the operating system (bleak's `pair()`): BlueZ asks its registered agent
(e.g. `bluetoothctl` or the desktop's Bluetooth applet) for the passkey, Windows shows its own pairing dialog,
and macOS pairs on first access to a protected characteristic. `--passkey` is then not used, and a failed
pairing is cleaned up by the OS, not by us. With a Bumble adapter (`sim:`/`usb:`) we run SMP ourselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from host.link.adapter import Adapter
from host.link.bumble_backend import PairingFailedError, held_stack
from host.link.bumble_backend.stack import delete_bond, has_bond
from host.link.registry import AmbiguousDeviceError, DeviceRegistry, PairedDevice
from protocol import gatt

logger = logging.getLogger(__name__)

DEVICE_NAME_UUID = "00002a00-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"


class EarbudNotFoundError(LookupError):
    """No earbud by that name or address (in range, or in the registry)."""


class AmbiguousEarbudError(LookupError):
    def __init__(self, message: str, matches: list[dict]) -> None:
        super().__init__(message)
        self.matches = matches


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


async def _adapter_session(stack: AsyncExitStack, adapter: Adapter) -> None:
    # Keep one Bumble transport open for the whole command (scan then connect on the same controller).
    if not adapter.is_native:
        assert adapter.bumble_transport is not None
        await stack.enter_async_context(held_stack(adapter.bumble_transport))


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
            name_shortened=_name_shortened(adv),
        )
        for device, adv in found.values()
        if gatt.SERVICE_UUID in adv.service_uuids  # some backends do not filter themselves
    ]
    return sorted(earbuds, key=lambda e: -e.rssi)


def _name_shortened(adv) -> bool:
    # Only our Bumble backend tells (its platform data is the Bumble advertisement); native stacks merge the
    # scan response, which carries the complete name.
    from bumble.core import AdvertisingData

    advertisement = adv.platform_data[0] if adv.platform_data else None
    data = getattr(advertisement, "data", None)
    if not isinstance(data, AdvertisingData):
        return False
    return data.get(AdvertisingData.COMPLETE_LOCAL_NAME) is None and data.get(AdvertisingData.SHORTENED_LOCAL_NAME) is not None


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
    async with AsyncExitStack() as stack:
        await _adapter_session(stack, adapter)
        earbud = await find_in_range(adapter, target, scan_timeout)
        if not adapter.is_native:
            # The user asked to pair again: an old bond must not be used (nor survive a failed attempt).
            await delete_bond(earbud.address)
        client = BleakClient(earbud.device, timeout=connect_timeout, **adapter.client_kwargs())
        await client.connect()
        try:
            if adapter.is_native:
                await _pair_natively(client)
            else:
                await client.pair(passkey_provider=passkey_provider)
            # Prove the bond opens the protected service (and learn what the earbud is).
            await client.read_gatt_char(gatt.STATUS_UUID)
            model = await _read_text(client, MODEL_NUMBER_UUID)
            firmware = await _read_text(client, FIRMWARE_REVISION_UUID)
            # The advertised name may be shortened; the GAP Device Name is the whole one.
            name = await _read_text(client, DEVICE_NAME_UUID) or earbud.name
        except BaseException:
            if not adapter.is_native:
                await delete_bond(earbud.address)
            raise
        finally:
            await client.disconnect()
    return registry.add(earbud.address, name, adapter.spec, model=model, firmware=firmware)


async def _pair_natively(client: BleakClient) -> None:
    """Pair through the OS, which asks the user for the passkey itself (BlueZ through its registered agent)."""
    try:
        await client.pair()
    except NotImplementedError:
        # macOS: no explicit pairing; the OS pairs (and prompts) on the first protected read, which follows.
        logger.info("this OS pairs on first access; answer its pairing prompt")
    except BleakError as error:
        if "auth" in str(error).lower():  # BlueZ: org.bluez.Error.AuthenticationFailed / ...Rejected
            raise PairingFailedError(f"pairing failed: {error}", "AUTHENTICATION_FAILED") from error
        raise


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
    removed_bond = False
    if adapter.is_native:
        try:
            await BleakClient(device.address, **adapter.client_kwargs()).unpair()
            removed_bond = True
        except (BleakError, NotImplementedError) as error:  # macOS cannot unpair programmatically
            logger.warning("the OS did not remove its pairing with %s (%s): remove it in the Bluetooth settings", device.address, error)
    else:
        removed_bond = await delete_bond(device.address)
    registry.remove(device.address)
    return removed_bond


async def bonded(address: str) -> bool:
    """Whether the Bumble bond store holds a bond for `address`."""
    return await has_bond(address)
