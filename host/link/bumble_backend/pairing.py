"""Pairing on a Bumble host: LE Secure Connections passkey entry (we type the number the earbud speaks).

Without a passkey provider (no `pair` in progress on a connection) every pairing request is refused, so an earbud
can never get itself bonded to us behind the user's back. A failed pairing leaves no bond behind, and a bond
without MITM protection (Just Works) is refused and deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from bumble.device import Connection
from bumble.pairing import PairingConfig, PairingDelegate

from host.link.errors import PairingFailedError

# Asked for the passkey the earbud shows (speaks); returns the 6-digit number, or None to refuse.
PasskeyProvider = Callable[[], Awaitable[int | None]]


class _PasskeyEntryDelegate(PairingDelegate):
    """We have a keyboard (the user types the passkey the earbud speaks) and no display."""

    def __init__(self, provider: PasskeyProvider | None) -> None:
        super().__init__(
            io_capability=PairingDelegate.KEYBOARD_INPUT_ONLY,
            local_initiator_key_distribution=PairingDelegate.DEFAULT_KEY_DISTRIBUTION,
            local_responder_key_distribution=PairingDelegate.DEFAULT_KEY_DISTRIBUTION,
        )
        self._provider = provider

    async def accept(self) -> bool:
        return self._provider is not None

    async def confirm(self, auto: bool = False) -> bool:
        return self._provider is not None

    async def compare_numbers(self, number: int, digits: int) -> bool:
        return False  # we have no display: numeric comparison cannot be confirmed honestly

    async def get_number(self) -> int | None:
        if self._provider is None:
            return None
        passkey = await self._provider()
        if passkey is None or not 0 <= int(passkey) <= 999999:
            return None
        return int(passkey)


def pairing_config(provider: PasskeyProvider | None) -> PairingConfig:
    return PairingConfig(
        sc=True,
        mitm=True,
        bonding=True,
        delegate=_PasskeyEntryDelegate(provider),
        identity_address_type=PairingConfig.AddressType.RANDOM,
    )


def passkey_provider(options: dict[str, Any]) -> PasskeyProvider | None:
    """The provider from bleak's `pair(**kwargs)`: `passkey_provider` (async callable) or a fixed `passkey`."""
    provider: PasskeyProvider | None = options.get("passkey_provider")
    passkey = options.get("passkey")
    if provider is None and passkey is not None:
        fixed = int(passkey)

        async def provider() -> int | None:
            return fixed

    return provider


async def delete_keys(keystore: Any, names: Iterable[str]) -> None:
    if keystore is None:
        return
    for name in names:
        try:
            await keystore.delete(name)
        except KeyError:
            pass


async def pair(
    connection: Connection,
    address: str,
    providers: dict[int, PasskeyProvider],
    provider: PasskeyProvider | None,
    stale_names: Iterable[str],
    not_cancelled: Callable[[Awaitable[Any]], Awaitable[Any]],
) -> None:
    """Pair on `connection`; `providers` is the stack's table its pairing config reads the provider from.

    A stale bond for this peer (`stale_names`) would survive a failed re-pairing: it is dropped first (the user
    asked to re-pair), and put back only when the earbud refuses to pair at all (then it kept its side). Raises
    PairingFailedError, with nothing new stored."""
    keystore = connection.device.keystore
    names = set(stale_names) | {str(connection.peer_address)}
    kept = {name: keys for name in names if keystore and (keys := await keystore.get(name)) is not None}
    await delete_keys(keystore, names)
    failure: list[int] = []
    connection.on(connection.EVENT_PAIRING_FAILURE, failure.append)
    if provider is not None:
        providers[connection.handle] = provider
    try:
        await not_cancelled(connection.pair())
    except Exception as error:
        await delete_keys(keystore, names)
        reason = _smp_reason_name(failure[0]) if failure else type(error).__name__
        if reason == "PAIRING_NOT_SUPPORTED":
            # The earbud refused before any key was exchanged (it is not in pairing mode), so it still holds
            # the old bond: ours stays valid and is put back.
            for name, keys in kept.items():
                await keystore.update(name, keys)
        raise PairingFailedError(f"pairing with {address} failed: {reason}", reason) from error
    finally:
        providers.pop(connection.handle, None)
        connection.remove_listener(connection.EVENT_PAIRING_FAILURE, failure.append)
    keys = await keystore.get(str(connection.peer_address)) if keystore else None
    if keys is None or keys.ltk is None or not keys.ltk.authenticated:
        await delete_keys(keystore, names)
        raise PairingFailedError(
            f"{address} paired without passkey protection (no MITM); bond refused: "
            "put the earbud in pairing mode and pair again",
            "NOT_AUTHENTICATED",
        )


def _smp_reason_name(reason: int) -> str:
    from bumble import smp

    try:
        return smp.ErrorCode(reason).name
    except ValueError:
        return f"0x{reason:02X}"
