"""The satellites' zeroconf advertisement, found by a real mDNS lookup on this machine (as Home Assistant finds it)."""

from __future__ import annotations

import asyncio

from zeroconf.asyncio import AsyncZeroconf

from host.wyoming.zeroconf import SERVICE_TYPE, Advertisement


def test_a_satellite_is_found_as_a_wyoming_service():
    async def main():
        advertisement = Advertisement()
        info = await advertisement.add("Earpiece Kitchen", "0.0.0.0", 10799)
        browser = AsyncZeroconf()
        try:
            found = await browser.async_get_service_info(SERVICE_TYPE, info.name, timeout=3000)
        finally:
            await browser.async_close()
            await advertisement.close()
        return info, found

    info, found = asyncio.run(main())
    assert info.name == f"Earpiece-Kitchen.{SERVICE_TYPE}"
    assert found is not None and found.port == 10799 and found.properties[b"earbud"] == b"Earpiece Kitchen"
    assert not found.parsed_addresses()[0].startswith("127.")  # every interface: the address the LAN reaches
