"""The registry of paired earbuds: a small SQLite database in data_dir.

SQLite gives us atomic, durable updates for free (a crash mid-write leaves the previous state, never a torn
file), and several processes (`earpiece run` and a CLI command) can use it at once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from host import paths

REGISTRY_FILE = "devices.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    address    TEXT PRIMARY KEY,   -- the earbud's identity address, AA:BB:CC:DD:EE:FF
    name       TEXT NOT NULL,
    adapter    TEXT NOT NULL,      -- adapter spec it was paired through (bonds live with the adapter)
    paired_at  REAL NOT NULL,      -- unix time
    last_seen  REAL,               -- unix time of the last connection
    model      TEXT,
    firmware   TEXT
)
"""


@dataclass(frozen=True)
class PairedDevice:
    address: str
    name: str
    adapter: str
    paired_at: float
    last_seen: float | None = None
    model: str | None = None
    firmware: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


class AmbiguousDeviceError(LookupError):
    """A name matches several devices; `matches` lists them so the user can pick by address."""

    def __init__(self, name: str, matches: list[PairedDevice]) -> None:
        listed = ", ".join(f"{d.name} ({d.address})" for d in matches)
        super().__init__(f"{name!r} matches {len(matches)} devices: {listed}; give the address instead")
        self.matches = matches


class DeviceRegistry:
    """Paired earbuds, keyed by address. Every method is one transaction."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.data_dir() / REGISTRY_FILE

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer (run + CLI at once)
            db.execute("PRAGMA synchronous=FULL")  # a committed pairing survives power loss
            db.execute(_SCHEMA)
            with db:  # commit on success, roll back on any error
                yield db
        finally:
            db.close()

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
        """Record a connection (and what the earbud told us about itself)."""
        with self._db() as db:
            db.execute(
                "UPDATE devices SET last_seen=?, model=COALESCE(?, model), firmware=COALESCE(?, firmware)"
                " WHERE address=?",
                (time.time(), model, firmware, address.upper()),
            )

    def remove(self, address: str) -> bool:
        with self._db() as db:
            return db.execute("DELETE FROM devices WHERE address=?", (address.upper(),)).rowcount > 0

    def get(self, address: str) -> PairedDevice | None:
        with self._db() as db:
            row = db.execute(
                "SELECT address, name, adapter, paired_at, last_seen, model, firmware FROM devices WHERE address=?",
                (address.upper(),),
            ).fetchone()
        return PairedDevice(*row) if row else None

    def all(self) -> list[PairedDevice]:
        with self._db() as db:
            rows = db.execute(
                "SELECT address, name, adapter, paired_at, last_seen, model, firmware FROM devices ORDER BY name, address"
            ).fetchall()
        return [PairedDevice(*row) for row in rows]

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
