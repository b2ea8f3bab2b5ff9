"""`BumbleBleakScanner`: bleak's scanner interface on a Bumble host (virtual radio or USB dongle).

Use through bleak: `BleakScanner(backend=BumbleBleakScanner, bumble={"transport": "tcp-client:127.0.0.1:7420"})`.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, Optional

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bumble.core import AdvertisingData
from bumble.device import Advertisement

from host.link.bumble_backend.stack import BumbleStack, acquire_stack, release_stack
from host.link.bumble_backend.uuids import to_bleak

logger = logging.getLogger(__name__)

_UUID_LIST_TYPES = (
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)
_SERVICE_DATA_TYPES = (
    AdvertisingData.SERVICE_DATA_16_BIT_UUID,
    AdvertisingData.SERVICE_DATA_32_BIT_UUID,
    AdvertisingData.SERVICE_DATA_128_BIT_UUID,
)


def advertisement_to_bleak(advertisement: Advertisement) -> AdvertisementData:
    data = advertisement.data
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(AdvertisingData.SHORTENED_LOCAL_NAME)
    service_uuids: list[str] = []
    for ad_type in _UUID_LIST_TYPES:
        for uuids in data.get_all(ad_type):
            service_uuids.extend(to_bleak(u) for u in uuids)
    service_data = {}
    for ad_type in _SERVICE_DATA_TYPES:
        for service_uuid, payload in data.get_all(ad_type):
            service_data[to_bleak(service_uuid)] = bytes(payload)
    manufacturer_data = {company: bytes(payload) for company, payload in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA)}
    tx_power = data.get(AdvertisingData.TX_POWER_LEVEL)
    return AdvertisementData(
        local_name=name if isinstance(name, str) else None,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=service_uuids,
        tx_power=tx_power if isinstance(tx_power, int) else None,
        rssi=advertisement.rssi,
        platform_data=(advertisement,),
    )


def _better_name(new: str | None, old: str | None) -> str | None:
    # The advertising PDU may carry a shortened name and the scan response the complete one: keep the complete.
    if new and old and old.startswith(new):
        return old
    return new or old


def bleak_address(advertisement: Advertisement) -> str:
    """Addresses as bleak shows them on Linux: `AA:BB:CC:DD:EE:FF`, no Bumble type suffix."""
    return advertisement.address.to_string(with_type_qualifier=False)


class BumbleBleakScanner(BaseBleakScanner):
    """Scans with a Bumble host. Extra keyword: `bumble={"transport": SPEC}` (a Bumble transport spec)."""

    def __init__(
        self,
        detection_callback: Optional[AdvertisementDataCallback],
        service_uuids: Optional[list[str]],
        scanning_mode: Literal["active", "passive"] = "active",
        *,
        bumble: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        options = bumble or {}
        if "transport" not in options:
            raise ValueError('BumbleBleakScanner needs bumble={"transport": "<bumble transport spec>"}')
        self._transport_spec: str = options["transport"]
        self._active = scanning_mode == "active"
        self._stack: BumbleStack | None = None

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        try:
            adv = advertisement_to_bleak(advertisement)
        except Exception as error:  # a malformed advertisement from some other device must not stop the scan
            logger.debug("ignoring unparsable advertisement from %s: %s", advertisement.address, error)
            return
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = bleak_address(advertisement)
        # Like BlueZ, merge scan responses: keep what we knew when this report lacks it.
        previous = self.seen_devices.get(address)
        if previous is not None:
            old = previous[1]
            adv = adv._replace(
                local_name=_better_name(adv.local_name, old.local_name),
                service_uuids=sorted(set(adv.service_uuids) | set(old.service_uuids)),
                service_data={**old.service_data, **adv.service_data},
                manufacturer_data={**old.manufacturer_data, **adv.manufacturer_data},
            )
        device = self.create_or_update_device(address, address, adv.local_name, advertisement.address, adv)
        self.call_detection_callbacks(device, adv)

    async def start(self) -> None:
        self.seen_devices = {}
        self._stack = await acquire_stack(self._transport_spec)
        assert self._stack.device is not None
        self._stack.device.on("advertisement", self._on_advertisement)
        self._stack.scanners += 1
        if not self._stack.device.scanning:
            await self._stack.device.start_scanning(active=self._active, filter_duplicates=False)

    async def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        stack.scanners -= 1
        try:
            if stack.device is not None:
                stack.device.remove_listener("advertisement", self._on_advertisement)
                if stack.scanners == 0 and stack.device.scanning:  # other scanners on this adapter keep it on
                    await stack.device.stop_scanning()
        finally:
            await release_stack(stack)


def name_shortened(adv: AdvertisementData) -> bool:
    """Whether only a shortened name was advertised (it did not fit in 31 bytes). Our scanner's platform data is
    the Bumble advertisement; for anything else the answer is False."""
    advertisement = adv.platform_data[0] if adv.platform_data else None
    data = getattr(advertisement, "data", None)
    if not isinstance(data, AdvertisingData):
        return False
    return (data.get(AdvertisingData.COMPLETE_LOCAL_NAME) is None
            and data.get(AdvertisingData.SHORTENED_LOCAL_NAME) is not None)
