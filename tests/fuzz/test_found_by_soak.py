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


class _Ear:
    """Just what the reminder bell reads of an EarbudRunner: its name, link, whether it is busy, and what it says."""

    def __init__(self, name: str, connected: bool = True):
        from types import SimpleNamespace

        self.said: list[str] = []
        self.device = SimpleNamespace(name=name)
        self.link = SimpleNamespace(connected=connected)
        voice = SimpleNamespace(start=lambda text, why: self.said.append(text))
        self.session = SimpleNamespace(listening=False, replying=False, voice=voice)


async def _ring_for(reminders, runners: dict, seconds: float, **options) -> None:
    import asyncio

    from host.bridge.reminder_bell import ring_reminders

    task = asyncio.create_task(ring_reminders(reminders, runners, check_every_s=0.02, **options))
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_a_reminder_that_cannot_be_recorded_as_rung_rings_once(tmp_path, caplog):
    """Found by the soak: with the data disk full a reminder rang, marking it rung failed, and it rang again 30 s
    later (and its "rung" line was never logged)."""
    import asyncio
    from datetime import datetime, timedelta

    from host.companion.reminders import ReminderStore

    class FullDisk(ReminderStore):
        def mark_rung(self, reminder_id, now=None):
            raise MemoryStoreError(f"{self.path}: database or disk is full; check the file and its folder")

    caplog.set_level("INFO", logger="host.bridge.reminder_bell")
    reminders = FullDisk(tmp_path / "companion.sqlite3")
    reminder = reminders.add("stretch my legs", datetime.now().astimezone() - timedelta(seconds=1), "Left")
    ear = _Ear("Left")
    import host.bridge.reminder_bell as bell

    waited, bell.AFTER_ERROR_S = bell.AFTER_ERROR_S, 0.05  # the bell retries soon, as it would after 30 s
    try:
        asyncio.run(_ring_for(reminders, {"L": ear}, 0.5))
    finally:
        bell.AFTER_ERROR_S = waited
    assert len(ear.said) == 1, ear.said
    assert f"Left: reminder {reminder.id} rung" in caplog.text and "disk is full" in caplog.text


def test_a_reminder_waits_for_its_own_earbud_through_a_reconnection(tmp_path):
    """Found by the soak: a reminder due while its earbud's link was being re-made (half a second) rang in another
    earbud's ear, which was deaf to its wearer's question meanwhile."""
    import asyncio
    from datetime import datetime, timedelta

    from host.companion.reminders import ReminderStore

    reminders = ReminderStore(tmp_path / "companion.sqlite3")
    reminders.add("stretch my legs", datetime.now().astimezone() - timedelta(seconds=1), "Left")
    left, right = _Ear("Left", connected=False), _Ear("Right")

    async def blip():
        ringing = asyncio.create_task(_ring_for(reminders, {"L": left, "R": right}, 0.6, fallback_after_s=5.0))
        await asyncio.sleep(0.3)
        left.link.connected = True  # back
        await ringing

    asyncio.run(blip())
    assert (len(left.said), len(right.said)) == (1, 0)
    reminders.add("drink water", datetime.now().astimezone() - timedelta(seconds=1), "Left")
    left.link.connected = False  # gone for good: after the wait it rings where it can be heard
    asyncio.run(_ring_for(reminders, {"L": left, "R": right}, 0.5, fallback_after_s=0.2))
    assert (len(left.said), len(right.said)) == (1, 1)


def test_the_soak_lists_a_question_said_over_a_reminder_or_rejected_by_verification_apart():
    """The soak's judgment: a question unanswered because a reminder was ringing in that ear when it began (the mic
    is deaf while the earbud speaks), or because [wake] verify rejected its wake word, is listed with its reason;
    any other unanswered question is a loss."""
    from bench.soak import checks

    world = 1_000_000.0
    loop = {"period_s": 20.0, "phrases": [(2.0, 2.0, "Hey Jarvis, what time is it?")], "role": "clock"}
    slow = [{"t": world + s, "pid": 1, "rss": 1, "earbuds": {"E": {"mic_started_at": world}}} for s in range(0, 100)]
    events = [(world - 0.5, "E connected (MTU 517, firmware 0.1.0)"),
              (world + 5.0, "E heard: 'What time is it?' -> \"It's 4 AM.\""),  # loop 0: answered
              (world + 20.5, "E: reminder 3 rung"),  # loop 1: a reminder rang as it began
              (world + 42.8, "E: wake word hey_jarvis_v0.1 (score 0.87) rejected: the recognizer did not hear it"),
              (world + 65.0, "E heard: 'What time is it?' -> \"It's 4 AM.\"")]  # loop 3: answered; loop 4: lost
    result = checks.questions([loop], ["E"], slow, [], [], events, world - 10.0, world + 120.0)
    assert [q["at"] for q in result["talked_over_by_a_reminder"]] == [32.0]
    assert [q["at"] for q in result["wake_rejected_by_verification"]] == [52.0]
    assert (result["asked"], result["answered"], [q["at"] for q in result["missed"]]) == (3, 2, [92.0])
    assert not result["ok"]
