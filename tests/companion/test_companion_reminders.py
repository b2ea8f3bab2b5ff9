"""Reminders: spoken times read right, kept in the SQLite file across restarts, late ones still rung."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from host.assistant.text import normalize
from host.companion.reminders import ReminderStore, ring_text
from host.companion.when import find_time

NOW = datetime(2026, 11, 21, 15, 7, tzinfo=timezone(timedelta(hours=1)))  # a Saturday afternoon


@pytest.mark.parametrize("said, due, rest", [
    ("Remind me to call mom in ten minutes.", (21, 15, 17), "remind me to call mom"),
    ("Remind me to call mom in 10 minutes.", (21, 15, 17), "remind me to call mom"),
    ("remind me in 1 hour to stretch", (21, 16, 7), "remind me to stretch"),
    ("remind me in an hour and a half to go", (21, 16, 37), "remind me to go"),
    ("Remind me to call mom at 5 p.m.", (21, 17, 0), "remind me to call mom"),
    ("remind me to call mom at 5 pm", (21, 17, 0), "remind me to call mom"),
    ("remind me at 5:30 to stretch", (21, 17, 30), "remind me to stretch"),
    ("remind me at 5 to stretch", (21, 17, 0), "remind me to stretch"),
    ("remind me at 3 to stretch", (22, 15, 0), "remind me to stretch"),
    ("remind me at 2 pm to stretch", (22, 14, 0), "remind me to stretch"),
    ("remind me at 9 to stretch", (21, 21, 0), "remind me to stretch"),
    ("remind me to call mom tomorrow at 9", (22, 9, 0), "remind me to call mom"),
    ("remind me tomorrow morning to water the plants", (22, 9, 0), "remind me to water the plants"),
    ("remind me to pay rent on Friday at noon", (27, 12, 0), "remind me to pay rent"),
    ("remind me to read at eight in the evening", (21, 20, 0), "remind me to read"),
])
def test_spoken_times(said, due, rest):
    when, words = find_time(normalize(said), NOW)
    assert (when.day, when.hour, when.minute) == due and when.tzinfo == NOW.tzinfo
    assert words == rest


@pytest.mark.parametrize("said", ["remind me to call mom", "remind me today", "what time is it"])
def test_no_time_named(said):
    assert find_time(normalize(said), NOW) is None


def test_reminders_survive_a_restart_and_ring_late_with_an_apology():
    store = ReminderStore()
    now = datetime.now().astimezone()
    late = store.add("call your mom", now - timedelta(minutes=30), device="Earpiece 1")
    later = store.add("water the plants", now + timedelta(hours=2))
    store.close()

    again = ReminderStore()  # the bridge restarted
    assert [r.id for r in again.upcoming()] == [late.id, later.id]
    due = again.due(now)
    assert [r.label for r in due] == ["call your mom"] and due[0].device == "Earpiece 1"
    assert 1790 <= due[0].late_s(now) <= 1810
    assert ring_text(due[0], now).startswith("Sorry, this reminder is late")
    assert "call your mom" in ring_text(due[0], now)
    assert ring_text(due[0], due[0].due_at) == "Here's your reminder: call your mom."
    again.mark_rung(late.id, now)
    assert again.due(now) == [] and [r.id for r in again.upcoming()] == [later.id]
    assert again.next_due_at() == later.due_at


def test_cancel_by_id_and_by_words():
    store = ReminderStore()
    now = datetime.now().astimezone()
    mom = store.add("call your mom", now + timedelta(hours=1))
    store.add("water the plants", now + timedelta(hours=2))
    assert [r.id for r in store.cancel_matching("the reminder about mom")] == [mom.id]
    assert store.cancel(mom.id) is None
    assert [r.label for r in store.upcoming()] == ["water the plants"]
