"""The host's bond store: Bumble's JsonKeyStore in data_dir, written owner-only (it holds long-term keys)."""

from __future__ import annotations

import json
import os
from typing import Any

from bumble.keys import JsonKeyStore

from host.link.errors import BondFileError
from host.link.identity import bonds_file, load_or_create_identity


class PrivateJsonKeyStore(JsonKeyStore):
    """JsonKeyStore whose file is created 0600 whatever the umask (Bumble's own save uses the umask), and whose
    damaged file is named in one line (BondFileError) instead of surfacing as a bare JSON error retried forever."""

    async def load(self):
        try:
            return await super().load()
        except (ValueError, UnicodeDecodeError, AttributeError, TypeError) as error:  # not JSON, or the wrong shape
            raise BondFileError(f"the bond file {self.filename} is damaged ({error}); restore it from a backup, or "
                                "move it away and pair each earbud again (`earpiece pair`)") from None

    async def save(self, db: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.directory_name.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = self.filename.with_name(self.filename.name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as output:
            os.fchmod(output.fileno(), 0o600)  # a stale temp file from older code may be wider
            json.dump(db, output, sort_keys=True, indent=4)
            output.flush()
            os.fsync(output.fileno())
        os.replace(temp, self.filename)  # atomic: a crash leaves the old bonds or the new ones


def bond_store() -> JsonKeyStore:
    """The host's bond store, usable without opening a transport (e.g. to forget an earbud that is away).

    One namespace for the host identity, whatever controller we run on (Bumble's default would be the
    controller's public address, which differs between dongles and virtual controllers)."""
    identity = load_or_create_identity()
    return PrivateJsonKeyStore(namespace=identity.address, filename=str(bonds_file()))


async def has_bond(address: str) -> bool:
    keys = await bond_store().get(address.upper())
    return keys is not None and (keys.ltk is not None or keys.ltk_central is not None)


async def delete_bond(address: str) -> bool:
    """Remove the bond we hold for `address`; True if there was one."""
    try:
        await bond_store().delete(address.upper())
    except KeyError:
        return False
    return True
