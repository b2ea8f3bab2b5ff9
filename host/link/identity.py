"""The host's own Bluetooth identity: a random static address and an IRK, generated once and kept in data_dir.

Every command and `earpiece run` use the same identity, so an earbud that bonded with us recognises us again
after restarts (a bond is tied to the peer's identity address and IRK). The file is owner-only (0600): the IRK
lets whoever holds it track this computer.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from host import paths
from host.link.errors import IdentityError

IDENTITY_FILE = "bluetooth_identity.json"


@dataclass(frozen=True)
class HostIdentity:
    address: str  # random static address, "XX:XX:XX:XX:XX:XX" (two top bits set)
    irk: bytes  # 16-byte identity resolving key


def _new_static_address() -> str:
    raw = bytearray(secrets.token_bytes(6))
    raw[0] |= 0xC0  # random static: the two most significant bits are 1
    if raw[1:] == b"\xff" * 5 or raw[1:] == bytes(5):
        raw[5] ^= 0x01  # all-ones / all-zeros random parts are not allowed
    return ":".join(f"{b:02X}" for b in raw)


def _create_once(path: Path, text: str) -> None:
    """Write `path` complete or not at all; if another process created it first, keep theirs."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)  # a stale temp file may be wider
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # fails if it exists: two commands started at once agree on one identity
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def load_or_create_identity(data_dir: Path | None = None) -> HostIdentity:
    """Return the host identity, creating and saving it on first use."""
    directory = data_dir or paths.data_dir()
    path = directory / IDENTITY_FILE
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        return HostIdentity(address=stored["address"], irk=bytes.fromhex(stored["irk"]))
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError) as error:
        raise IdentityError(
            f"{path} is damaged ({type(error).__name__}); move it away to create a new identity "
            "(earbuds must then be paired again)"
        ) from error
    except OSError as error:
        raise IdentityError(f"cannot read {path} ({error.strerror or error}); check its permissions") from error
    fresh = HostIdentity(address=_new_static_address(), irk=secrets.token_bytes(16))
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _create_once(path, json.dumps({"address": fresh.address, "irk": fresh.irk.hex()}) + "\n")
    except OSError as error:
        raise IdentityError(f"cannot write {path} ({error.strerror or error}); check that {directory} is "
                            "writable") from error
    return load_or_create_identity(directory)


def bonds_file(data_dir: Path | None = None) -> Path:
    """Where the Bumble backends keep bonds (Bumble JsonKeyStore)."""
    return (data_dir or paths.data_dir()) / "bonds.json"
