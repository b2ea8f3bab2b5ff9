"""What the soak found, pinned as regression tests."""

from __future__ import annotations

import pytest

from host.companion.memory import MemoryStore
from host.companion.store import MemoryStoreError


def test_a_full_disk_is_reported_as_full(tmp_path):
    """With the data disk full SQLite rolls the transaction back itself; a second ROLLBACK hid 'disk is full'."""
    store = MemoryStore(tmp_path / "companion.sqlite3", embedder=None)
    store.db._conn.execute("PRAGMA max_page_count = 8")  # SQLite's own 'database or disk is full', as on a full disk
    with pytest.raises(MemoryStoreError) as raised:
        for _ in range(10_000):
            store.add_turn("Earpiece", "what time is it " * 20, "x" * 400)
    said = str(raised.value).split(".sqlite3: ", 1)[1]  # after the path (this test's folder has "full" in its name)
    assert "full" in said, said


def test_a_history_that_cannot_be_written_costs_one_log_line(tmp_path, caplog):
    """Found by the soak: with the data disk full, saving the exchange failed in a task nobody awaited ("Task
    exception was never retrieved", a traceback in the bridge's log)."""
    from host.assistant import Assistant
    from host.assistant.reply import Reply
    from host.bridge.answering import Answering
    from host.companion import Companion

    store = MemoryStore(tmp_path / "companion.sqlite3", embedder=None)
    store.db._conn.execute("PRAGMA max_page_count = 8")
    companion = Companion(Assistant(), store, None)
    answering = Answering(None, companion, {}, "Earpiece")  # recording needs no engines
    for _ in range(200):
        answering.record("what time is it " * 20, Reply("x" * 400), None)  # never raises
    assert "the conversation history was not saved" in caplog.text and "full" in caplog.text


@pytest.mark.parametrize("damage", ["truncated", "not json", "a list", "empty"])
def test_a_damaged_bond_file_is_named_in_one_line(isolated_home, damage):
    # Found by the soak's start-up fault: a truncated bonds.json made `earpiece run` retry every earbud every 5 s
    # forever with "connection failed (Expecting ',' delimiter: line 23 column 14 (char 701))", naming no file.
    import asyncio

    from host.link.bumble_backend.bonds import bond_store, has_bond
    from host.link.errors import BondFileError, LinkRefusedError
    from host.link.identity import bonds_file

    async def keep_one() -> None:
        from bumble.keys import PairingKeys

        await bond_store().update("F1:00:00:00:00:01", PairingKeys(ltk=PairingKeys.Key(bytes(16), True)))

    asyncio.run(keep_one())
    path = bonds_file()
    text = path.read_text()
    path.write_text({"truncated": text[: len(text) // 2], "not json": "garbage", "a list": "[1, 2]",
                     "empty": ""}[damage])
    with pytest.raises(BondFileError) as raised:
        asyncio.run(has_bond("F1:00:00:00:00:01"))
    assert isinstance(raised.value, LinkRefusedError)  # the link gives up at once instead of retrying forever
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)
