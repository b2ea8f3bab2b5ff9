"""The registry of paired earbuds: a small SQLite database in data_dir (owner-only, 0600).

SQLite gives us atomic, durable updates for free (a crash mid-write leaves the previous state, never a torn
file), and several processes (`earpiece run` and a CLI command) can use it at once. Each earbud's quiet state
lives in its row, so forgetting an earbud forgets that too.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from host import paths
from host.link.errors import AmbiguousDeviceError, RegistryError
from protocol import control

__all__ = ["AmbiguousDeviceError", "DeviceRegistry", "PairedDevice", "RegistryError", "looks_like_address"]

REGISTRY_FILE = "devices.sqlite3"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS devices (
    address      TEXT PRIMARY KEY,   -- the earbud's identity address, AA:BB:CC:DD:EE:FF
    name         TEXT NOT NULL,
    adapter      TEXT NOT NULL,      -- adapter spec it was paired through (bonds live with the adapter)
    paired_at    REAL NOT NULL,      -- unix time
    last_seen    REAL,               -- unix time of the last connection
    model        TEXT,
    firmware     TEXT,
    quiet        INTEGER NOT NULL DEFAULT 0,  -- 0/1: the host keeps this earbud quiet
    quiet_source INTEGER NOT NULL DEFAULT {control.QUIET_SOURCE_HOST}  -- control.QUIET_SOURCE_* of that
)
"""
# Columns added since the first schema: (name, definition), added to an older database when it is opened.
_MIGRATIONS = (
    ("quiet", "INTEGER NOT NULL DEFAULT 0"),
    ("quiet_source", f"INTEGER NOT NULL DEFAULT {control.QUIET_SOURCE_HOST}"),
)
_COLUMNS = "address, name, adapter, paired_at, last_seen, model, firmware, quiet, quiet_source"


@dataclass(frozen=True)
class PairedDevice:
    address: str
    name: str
    adapter: str
    paired_at: float
    last_seen: float | None = None
    model: str | None = None
    firmware: str | None = None
    quiet: bool = False
    quiet_source: int = control.QUIET_SOURCE_HOST

    def to_json(self) -> dict:
        return asdict(self)


def _make_private(path: Path) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:  # an older, wider file
            os.fchmod(fd, 0o600)
    except PermissionError:  # not ours to change: use it as it is
        pass
    finally:
        os.close(fd)


def _device(row: tuple) -> PairedDevice:
    *head, quiet, quiet_source = row
    return PairedDevice(*head, quiet=bool(quiet), quiet_source=int(quiet_source))


class DeviceRegistry:
    """Paired earbuds, keyed by address. Every method is one transaction; sqlite failures raise RegistryError."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.data_dir() / REGISTRY_FILE

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Created owner-only before sqlite opens it: sqlite gives its -wal/-shm files the same mode.
            _make_private(self.path)
            db = sqlite3.connect(self.path, timeout=10.0)
        except (OSError, sqlite3.Error) as error:
            raise self._error(error) from error
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer (run + CLI at once)
            db.execute("PRAGMA synchronous=FULL")  # a committed pairing survives power loss
            db.execute(_SCHEMA)
            self._migrate(db)
            with db:  # commit on success, roll back on any error
                yield db
        except sqlite3.Error as error:
            raise self._error(error) from error
        finally:
            db.close()

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        have = {row[1] for row in db.execute("PRAGMA table_info(devices)")}
        for name, definition in _MIGRATIONS:
            if name not in have:
                try:
                    with db:
                        db.execute(f"ALTER TABLE devices ADD COLUMN {name} {definition}")
                except sqlite3.OperationalError as error:
                    if "duplicate column" not in str(error):  # another process migrated it first: fine
                        raise

    def _error(self, error: Exception) -> RegistryError:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        return RegistryError(
            f"the device registry {self.path} cannot be used ({reason}): check the disk has room and the file is "
            "writable; if it is damaged, move it away (earbuds must then be paired again)"
        )

    def add(self, address: str, name: str, adapter: str, model: str | None = None, firmware: str | None = None) -> PairedDevice:
        now = time.time()
        with self._db() as db:
            db.execute(
                "INSERT INTO devices (address, name, adapter, paired_at, last_seen, model, firmware)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(address) DO UPDATE SET name=excluded.name, adapter=excluded.adapter,"
                " paired_at=excluded.paired_at, last_seen=excluded.last_seen,"
                " model=COALESCE(excluded.model, model), firmware=COALESCE(excluded.firmware, firmware)",
                (address.upper(), name, adapter, now, now, model, firmware),
            )
        device = self.get(address)
        assert device is not None
        return device

    def touch(self, address: str, model: str | None = None, firmware: str | None = None) -> None:
        """Record a connection now (and what the earbud told us about itself)."""
        with self._db() as db:
            db.execute(
                "UPDATE devices SET last_seen=?, model=COALESCE(?, model), firmware=COALESCE(?, firmware)"
                " WHERE address=?",
                (time.time(), model, firmware, address.upper()),
            )

    def set_quiet(self, address: str, quiet: bool, source: int = control.QUIET_SOURCE_HOST) -> bool:
        """Record whether `address` is kept quiet, and who said so. Returns False if it is not registered."""
        with self._db() as db:
            return db.execute(
                "UPDATE devices SET quiet=?, quiet_source=? WHERE address=?",
                (1 if quiet else 0, int(source), address.upper()),
            ).rowcount > 0

    def remove(self, address: str) -> bool:
        with self._db() as db:
            return db.execute("DELETE FROM devices WHERE address=?", (address.upper(),)).rowcount > 0

    def get(self, address: str) -> PairedDevice | None:
        with self._db() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM devices WHERE address=?", (address.upper(),)).fetchone()
        return _device(row) if row else None

    def all(self) -> list[PairedDevice]:
        with self._db() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM devices ORDER BY name, address").fetchall()
        return [_device(row) for row in rows]

    def find(self, name_or_address: str) -> PairedDevice | None:
        """Look a device up by address or exact name (case-insensitive). Raises AmbiguousDeviceError."""
        by_address = self.get(name_or_address)  # on macOS bleak's "addresses" are UUIDs: try any text
        if by_address is not None:
            return by_address
        matches = [d for d in self.all() if d.name.lower() == name_or_address.lower()]
        if len(matches) > 1:
            raise AmbiguousDeviceError(name_or_address, matches)
        return matches[0] if matches else None


def looks_like_address(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 6 and all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts)
