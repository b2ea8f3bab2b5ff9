"""Zeroconf (mDNS) advertisement of the satellites as `_wyoming._tcp.local.`, so Home Assistant discovers them
(`[wyoming] zeroconf = true`). One service per earbud, named after it."""

from __future__ import annotations

import contextlib
import logging
import re
import socket

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

log = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."
MDNS_GROUP = "224.0.0.251"


def advertised_address(host: str) -> str:
    """The address to advertise for a server bound to `host`: for "every interface" the one a LAN peer reaches."""
    if host not in ("", "0.0.0.0", "::"):
        return socket.gethostbyname(host)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((MDNS_GROUP, 1))  # no packet is sent: this only picks the outgoing interface
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


class Advertisement:
    """The services on the network while the bridge runs."""

    def __init__(self) -> None:
        self._zeroconf: AsyncZeroconf | None = None
        self.services: list[AsyncServiceInfo] = []

    async def add(self, name: str, host: str, port: int) -> AsyncServiceInfo:
        address = advertised_address(host)
        if address.startswith("127."):
            log.warning("zeroconf: the satellite %s listens on %s only: Home Assistant on another machine cannot "
                        "reach it; set [wyoming] satellite_host = \"0.0.0.0\"", name, host)
        if self._zeroconf is None:
            self._zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only)
        label = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:63] or "earpiece"
        info = AsyncServiceInfo(SERVICE_TYPE, f"{label}.{SERVICE_TYPE}", addresses=[socket.inet_aton(address)],
                                port=port, properties={"earbud": name},
                                server=f"{label}.local.")
        await self._zeroconf.async_register_service(info, allow_name_change=True)
        self.services.append(info)
        log.info("zeroconf: advertising %s at %s:%d", info.name, address, port)
        return info

    async def close(self) -> None:
        if self._zeroconf is None:
            return
        with contextlib.suppress(Exception):  # the network may be gone by now; nothing to clean up then
            await self._zeroconf.async_unregister_all_services()
        await self._zeroconf.async_close()
        self._zeroconf = None
