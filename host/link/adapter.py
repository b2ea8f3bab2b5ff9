"""Which Bluetooth adapter the host uses, and how bleak is told to use it.

Adapter specs (the `--adapter` option, env `EARPIECE_ADAPTER`, config `[link] adapter`):
- `native`         bleak's own backend for this OS (BlueZ, CoreBluetooth, WinRT); pairing goes through the OS.
- `usb:N`          the N-th USB Bluetooth dongle, driven directly by Bumble (no system stack needed).
- `sim:HOST:PORT`  a virtual radio (`earpiece-sim radio`), through Bumble's `tcp-client` transport.
- `bumble:SPEC`    any other Bumble transport spec, passed through unchanged (e.g. `bumble:serial:/dev/ttyACM0`).

The Adapter is the one interface between generic link code and a backend (as bleak's own backends are): it
selects the bleak backend, pairs, deletes and looks up bonds, holds the transport open for a command, and tells
what backend-specific facts and errors mean. Only this file imports our Bumble backend (lazily: `native` never
loads Bumble).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from host.link.errors import AdapterError, LinkRefusedError, NotBondedError, PairingFailedError

logger = logging.getLogger(__name__)

ENV_VAR = "EARPIECE_ADAPTER"
DEFAULT_ADAPTER = "native"


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

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Keep the adapter open for a whole command (scan, then connect, on the same controller)."""
        if self.is_native:
            yield
            return
        from host.link.bumble_backend import held_stack

        assert self.bumble_transport is not None
        async with held_stack(self.bumble_transport):
            yield

    async def pair(self, client: Any, passkey_provider: Callable[[], Awaitable[int | None]]) -> None:
        """Pair a connected `bleak.BleakClient`. Raises PairingFailedError (nothing is stored then).

        Native: the OS asks the user for the passkey itself (BlueZ through its registered agent, Windows in its own
        dialog; macOS pairs on the first protected access). Bumble: we run SMP, asking `passkey_provider`."""
        if not self.is_native:
            await client.pair(passkey_provider=passkey_provider)
            return
        from bleak.exc import BleakError

        try:
            await client.pair()
        except NotImplementedError:
            logger.info("this OS pairs on first access; answer its pairing prompt")
        except BleakError as error:
            if "auth" in str(error).lower():  # BlueZ: org.bluez.Error.AuthenticationFailed / ...Rejected
                raise PairingFailedError(f"pairing failed: {error}", "AUTHENTICATION_FAILED") from error
            raise

    async def delete_bond(self, address: str) -> bool:
        """Remove our bond with `address`, wherever this adapter keeps it; True if one was removed."""
        if not self.is_native:
            from host.link.bumble_backend import delete_bond

            return await delete_bond(address)
        from bleak import BleakClient
        from bleak.exc import BleakError

        try:
            await BleakClient(address, **self.client_kwargs()).unpair()
        except (BleakError, NotImplementedError) as error:  # macOS cannot unpair programmatically
            logger.warning("the OS did not remove its pairing with %s (%s): remove it in the Bluetooth settings",
                           address, error)
            return False
        return True

    async def has_bond(self, address: str) -> bool | None:
        """Whether we hold a bond for `address` (None: the OS keeps bonds and does not say)."""
        if self.is_native:
            return None
        from host.link.bumble_backend import has_bond

        return await has_bond(address)

    def name_shortened(self, advertisement_data: Any) -> bool:
        """Whether a scan result carried only a shortened name. Native stacks merge the scan response, which
        carries the complete name, so only our Bumble backend can say True."""
        if self.is_native:
            return False
        from host.link.bumble_backend import name_shortened

        return name_shortened(advertisement_data)

    @staticmethod
    def refusal(error: BaseException, name: str, address: str) -> LinkRefusedError | None:
        """The LinkRefusedError that `error` (from connecting or subscribing) amounts to, or None when it is one
        worth retrying. Refused for good: the earbud rejects our stored bond, or refuses an unpaired host."""
        cause: BaseException | None = error
        while cause is not None and not isinstance(cause, NotBondedError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            refused = LinkRefusedError(
                f"{name} no longer accepts this computer's pairing (it was reset or paired elsewhere): "
                f"run `earpiece forget {address}` then `earpiece pair` again"
            )
        elif _is_auth_error(error):
            refused = LinkRefusedError(
                f"{name} refused access ({error}): it is not paired with this computer; run `earpiece pair` again"
            )
        else:
            return None
        refused.__cause__ = error
        return refused


def _is_auth_error(error: BaseException) -> bool:
    from bleak.exc import BleakError, BleakGATTProtocolError

    if isinstance(error, BleakGATTProtocolError) and error.args and error.args[0] in (0x05, 0x0F):
        return True  # Insufficient Authentication / Insufficient Encryption
    text = str(error).lower()
    return isinstance(error, BleakError) and ("authentication" in text or "encryption" in text)


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
