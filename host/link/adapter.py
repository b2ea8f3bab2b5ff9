"""Which Bluetooth adapter the host uses, and how bleak is told to use it.

Adapter specs (the `--adapter` option, env `EARPIECE_ADAPTER`, config `[link] adapter`):
- `native`         bleak's own backend for this OS (BlueZ, CoreBluetooth, WinRT); pairing goes through the OS.
- `usb:N`          the N-th USB Bluetooth dongle, driven directly by Bumble (no system stack needed).
- `sim:HOST:PORT`  a virtual radio (`earpiece-sim radio`), through Bumble's `tcp-client` transport.
- `bumble:SPEC`    any other Bumble transport spec, passed through unchanged (e.g. `bumble:serial:/dev/ttyACM0`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

ENV_VAR = "EARPIECE_ADAPTER"
DEFAULT_ADAPTER = "native"


class AdapterError(ValueError):
    """An adapter spec that cannot be used. The message says what to write instead."""


@dataclass(frozen=True)
class Adapter:
    """A parsed adapter spec."""

    spec: str
    # The Bumble transport to open, or None for bleak's native backend.
    bumble_transport: str | None

    @property
    def is_native(self) -> bool:
        return self.bumble_transport is None

    def bleak_kwargs(self) -> dict[str, Any]:
        """The backend options our Bumble backends take (none for native)."""
        return {} if self.is_native else {"bumble": {"transport": self.bumble_transport}}

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `BleakClient(...)` that select this adapter."""
        if self.is_native:
            return {}
        from host.link.bumble_backend import BumbleBleakClient

        return {"backend": BumbleBleakClient, **self.bleak_kwargs()}

    def scanner_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `BleakScanner(...)` that select this adapter."""
        if self.is_native:
            return {}
        from host.link.bumble_backend import BumbleBleakScanner

        return {"backend": BumbleBleakScanner, **self.bleak_kwargs()}


def parse_adapter(spec: str) -> Adapter:
    """Parse an adapter spec; raise AdapterError with a one-line hint when it is not one."""
    spec = spec.strip()
    if spec == "native":
        return Adapter(spec, None)
    if spec.startswith("usb:"):
        index = spec[4:]
        if not index:
            raise AdapterError(f"adapter {spec!r}: give the dongle number, e.g. usb:0")
        return Adapter(spec, spec)
    if spec.startswith("sim:"):
        host, _, port = spec[4:].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise AdapterError(f"adapter {spec!r}: write sim:HOST:PORT, e.g. sim:127.0.0.1:7420")
        return Adapter(spec, f"tcp-client:{host}:{port}")
    if spec.startswith("bumble:") and len(spec) > len("bumble:"):
        return Adapter(spec, spec[len("bumble:") :])
    raise AdapterError(f"unknown adapter {spec!r}: use native, usb:N or sim:HOST:PORT")


def _configured_adapter() -> str | None:
    # host/config.py is another part; the link works without it (and before it exists).
    try:
        from host import config  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        value = config.load().link.adapter
    except Exception as error:  # a broken config must not stop the link: fall back to the default
        logger.debug("no [link] adapter from config: %s", error)
        return None
    return str(value) if value else None


def adapter_spec(explicit: str | None = None) -> str:
    """The adapter spec in force: `explicit` (the --adapter option), then $EARPIECE_ADAPTER, then config, then native."""
    return explicit or os.environ.get(ENV_VAR) or _configured_adapter() or DEFAULT_ADAPTER


def resolve_adapter(explicit: str | None = None) -> Adapter:
    return parse_adapter(adapter_spec(explicit))
