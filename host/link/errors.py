"""Every error the link layer raises for a user to act on. Each message is one line that says what to do.

They derive from EarpieceError, and from the builtin that callers of the old API caught (ConnectionError,
LookupError, ValueError), so both `except EarpieceError` and `except ConnectionError` work.
"""

from __future__ import annotations

from typing import Any

from host.errors import EarpieceError


class AdapterError(EarpieceError, ValueError):
    """An adapter spec that cannot be used. The message says what to write instead."""


class LinkRefusedError(EarpieceError, ConnectionError):
    """The earbud cannot be used over this link, and reconnecting will not help."""


class BondFileError(LinkRefusedError):
    """The host's bond file (bonds.json) is damaged: no earbud can be reached with it, however often we retry."""


class NotBondedError(EarpieceError, ConnectionError):
    """The earbud refused our stored bond (it was reset, or paired elsewhere): pair again."""


class PairingFailedError(EarpieceError):
    """Pairing did not complete; no bond was stored. `reason` is the SMP reason name (e.g. CONFIRM_VALUE_FAILED)."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class EarbudNotFoundError(EarpieceError, LookupError):
    """No earbud by that name or address (in range, or in the registry)."""


class AmbiguousEarbudError(EarpieceError, LookupError):
    """A name matches several earbuds; `matches` lists them (as JSON objects) so the user can pick by address."""

    def __init__(self, message: str, matches: list[dict]) -> None:
        super().__init__(message)
        self.matches = matches


class AmbiguousDeviceError(EarpieceError, LookupError):
    """A name matches several paired devices; `matches` lists them so the user can pick by address."""

    def __init__(self, name: str, matches: list[Any]) -> None:
        listed = ", ".join(f"{d.name} ({d.address})" for d in matches)
        super().__init__(f"{name!r} matches {len(matches)} devices: {listed}; give the address instead")
        self.matches = matches


class RegistryError(EarpieceError):
    """The device registry (devices.sqlite3) cannot be read or written."""


class IdentityError(EarpieceError):
    """The host's Bluetooth identity file is damaged or cannot be written."""


class TransportError(EarpieceError, ConnectionError):
    """The Bluetooth adapter's transport (dongle, virtual radio) cannot be opened."""


class LinkDownError(EarpieceError, ConnectionError):
    """The earbud is not connected (now), or the connection failed; the link may still come back."""


class LinkTimeoutError(EarpieceError, TimeoutError):
    """The earbud did not connect or answer in time."""
