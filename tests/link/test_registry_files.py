"""The registry's quiet columns and migration, its errors on broken files, and owner-only data files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import tempfile
from pathlib import Path

import pytest
from bumble.keys import PairingKeys

from host import paths
from host.errors import EarpieceError
from host.link.bumble_backend.bonds import bond_store  # the backend's own store: no radio needed
from host.link.identity import IDENTITY_FILE, load_or_create_identity
from host.link.registry import DeviceRegistry, RegistryError
from protocol import control

OLD_SCHEMA = """CREATE TABLE devices (address TEXT PRIMARY KEY, name TEXT NOT NULL, adapter TEXT NOT NULL,
    paired_at REAL NOT NULL, last_seen REAL, model TEXT, firmware TEXT)"""


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("EARPIECE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_quiet_is_kept_per_earbud_and_forgetting_forgets_it():
    registry = DeviceRegistry()
    registry.add("C1:00:00:00:00:01", "Left", "usb:0")
    registry.add("C1:00:00:00:00:02", "Right", "usb:0")
    left = registry.get("C1:00:00:00:00:01")
    assert (left.quiet, left.quiet_source) == (False, control.QUIET_SOURCE_HOST)
    assert registry.set_quiet("c1:00:00:00:00:01", True, control.QUIET_SOURCE_VOICE)
    left = registry.get("C1:00:00:00:00:01")
    assert (left.quiet, left.quiet_source) == (True, control.QUIET_SOURCE_VOICE)
    assert registry.get("C1:00:00:00:00:02").quiet is False
    assert registry.all()[0].to_json()["quiet"] is True
    registry.remove("C1:00:00:00:00:01")
    registry.add("C1:00:00:00:00:01", "Left", "usb:0")  # paired again: a fresh start, not quiet
    assert registry.get("C1:00:00:00:00:01").quiet is False
    assert not registry.set_quiet("C1:00:00:00:00:09", True, control.QUIET_SOURCE_HOST)  # unknown: nothing to set


def test_touch_records_the_last_connection():
    registry = DeviceRegistry()
    paired = registry.add("C1:00:00:00:00:01", "Left", "usb:0")
    registry.touch("c1:00:00:00:00:01")
    assert registry.get("C1:00:00:00:00:01").last_seen >= paired.last_seen


def test_an_older_database_gains_the_quiet_columns_and_keeps_its_devices(isolated_home):
    path = isolated_home / "data" / "devices.sqlite3"
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute(OLD_SCHEMA)
    db.execute("INSERT INTO devices VALUES ('C1:00:00:00:00:01', 'Old', 'usb:0', 1.0, NULL, 'EP-SIM', NULL)")
    db.commit()
    db.close()
    registry = DeviceRegistry()
    old = registry.get("C1:00:00:00:00:01")
    assert (old.name, old.model, old.quiet, old.quiet_source) == ("Old", "EP-SIM", False, control.QUIET_SOURCE_HOST)
    assert registry.set_quiet(old.address, True, control.QUIET_SOURCE_SWITCH)
    assert DeviceRegistry().get(old.address).quiet_source == control.QUIET_SOURCE_SWITCH


def _assert_one_line_registry_error(error: pytest.ExceptionInfo, path: Path) -> None:
    assert isinstance(error.value, EarpieceError)
    message = str(error.value)
    assert str(path) in message and "\n" not in message


def test_a_garbled_registry_is_a_clear_error_not_a_sqlite_traceback(isolated_home):
    path = isolated_home / "data" / "devices.sqlite3"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database, it was overwritten by something else" * 100)
    registry = DeviceRegistry()
    for operation in (registry.all, lambda: registry.get("C1:00:00:00:00:01"),
                      lambda: registry.set_quiet("C1:00:00:00:00:01", True, control.QUIET_SOURCE_HOST),
                      lambda: registry.add("C1:00:00:00:00:01", "Left", "usb:0")):
        with pytest.raises(RegistryError, match="move it away") as error:
            operation()
        _assert_one_line_registry_error(error, path)


@contextlib.contextmanager
def _unprivileged():
    """Root ignores file modes: act as `nobody` for the block so a read-only file is read-only."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_a_read_only_registry_is_a_clear_error():
    folder = Path(tempfile.mkdtemp(prefix="earpiece-ro-"))  # not below pytest's root-only folders
    try:
        folder.chmod(0o755)
        path = folder / "devices.sqlite3"
        DeviceRegistry(path).add("C1:00:00:00:00:01", "Left", "usb:0")
        for leftover in folder.iterdir():
            leftover.chmod(0o444)
        folder.chmod(0o555)
        with _unprivileged():
            registry = DeviceRegistry(path)
            with pytest.raises(RegistryError, match="writable") as error:
                registry.set_quiet("C1:00:00:00:00:01", True, control.QUIET_SOURCE_HOST)
            _assert_one_line_registry_error(error, path)
    finally:
        folder.chmod(0o755)
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_files_are_owner_only_in_owner_only_folders_whatever_the_umask(isolated_home):
    old = os.umask(0o022)
    try:
        data = paths.data_dir()
        registry = DeviceRegistry()
        registry.add("C1:00:00:00:00:01", "Left", "usb:0")
        reader = sqlite3.connect(registry.path)  # another process reading: the -wal/-shm files stay
        reader.execute("SELECT COUNT(*) FROM devices").fetchone()
        registry.set_quiet("C1:00:00:00:00:01", True, control.QUIET_SOURCE_HOST)
        load_or_create_identity()
        asyncio.run(bond_store().update("C1:00:00:00:00:01", PairingKeys()))
        for folder in (data, paths.config_dir(), paths.runtime_dir()):
            assert _mode(folder) == 0o700, folder
        files = [data / IDENTITY_FILE, data / "bonds.json", data / "devices.sqlite3"]
        files += [data / "devices.sqlite3-wal", data / "devices.sqlite3-shm"]
        for file in files:
            assert _mode(file) == 0o600, file
        assert {p.name for p in data.iterdir()} == {f.name for f in files}
        reader.close()
    finally:
        os.umask(old)
