"""The companion's one SQLite file (facts, conversation history, reminders), opened safely.

The file is the user's: it is created owner-only (0600), and a file that is corrupt or locked is reported with what
to do and never overwritten, repaired or deleted. Every table is created on first use; `PRAGMA user_version`
records the layout.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from host import paths
from host.errors import EarpieceError

FILE_NAME = "companion.sqlite3"
LAYOUT_VERSION = 1
LOCK_TIMEOUT_S = 3.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text TEXT NOT NULL,
    said TEXT NOT NULL,
    created_at REAL NOT NULL,
    device TEXT,
    embedding BLOB
);
CREATE VIRTUAL TABLE IF NOT EXISTS facts_fts USING fts5(text, content='facts', content_rowid='id',
                                                       tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS facts_added AFTER INSERT ON facts BEGIN
    INSERT INTO facts_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS facts_removed AFTER DELETE ON facts BEGIN
    INSERT INTO facts_fts(facts_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT,
    user_text TEXT NOT NULL,
    reply_text TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_device ON turns(device, at);
CREATE TABLE IF NOT EXISTS reminders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL,
    due_at REAL NOT NULL,
    device TEXT,
    created_at REAL NOT NULL,
    rung_at REAL
);
"""


class MemoryStoreError(EarpieceError):
    """The companion's database cannot be used (corrupt, locked, unreadable); the message names the file."""


def default_path() -> Path:
    return paths.data_dir() / FILE_NAME


class Database:
    """One connection to the companion file, shared by the memory and reminder stores (thread-safe)."""

    def __init__(self, path: Path | str | None = None, timeout: float = LOCK_TIMEOUT_S):
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.Lock()
        self._create_private()
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False,
                                         isolation_level=None)
        except sqlite3.Error as error:
            raise self._error(error) from None
        self._create_tables()

    def _create_tables(self) -> None:
        with self._lock:
            try:
                if self._conn.execute("PRAGMA user_version").fetchone()[0] < LAYOUT_VERSION:
                    self._conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {LAYOUT_VERSION}; "
                                             "COMMIT;")
            except sqlite3.Error as error:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise self._error(error) from None

    def _create_private(self) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            if self.path.stat().st_mode & 0o077:
                self.path.chmod(0o600)
        except OSError as error:
            raise MemoryStoreError(f"{self.path}: cannot open the companion's memory ({error.strerror}); "
                                   "check the file's permissions") from None

    def _error(self, error: sqlite3.Error) -> MemoryStoreError:
        text = str(error)
        if "locked" in text or "busy" in text:
            return MemoryStoreError(f"{self.path} is locked by another program (another `earpiece run` or a "
                                    "database tool?); close it and try again")
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return MemoryStoreError(f"{self.path} is damaged ({text}); it was left untouched: move it aside "
                                    "(or restore a backup) and Earpiece starts a new one")
        return MemoryStoreError(f"{self.path}: {text}; check the file and its folder")

    @contextmanager
    def transaction(self):
        """The connection inside one transaction (written whole or not at all); sqlite errors become
        MemoryStoreError."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    if self._conn.in_transaction:  # SQLite may have rolled back already (a full disk does)
                        self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as error:
                raise self._error(error) from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
