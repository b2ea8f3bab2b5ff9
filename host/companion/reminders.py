"""Reminders the user asked for ("remind me to call mom at 5 pm"): kept in the companion's SQLite file, so they
survive a restart of the bridge; one that fell due while the bridge was down is still due, and rings late."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from host.companion.memory import content_words
from host.companion.store import Database

# A reminder rung more than this late says sorry (the bridge was down, or the machine asleep).
LATE_AFTER_S = 60.0
_COLUMNS = "id, label, due_at, device, created_at, rung_at"


@dataclass(frozen=True)
class Reminder:
    id: int
    label: str
    """What to remind of, as the companion says it: "call your mom"."""
    due_at: datetime
    device: str | None
    """The earbud it was asked through (None: typed); the bridge rings it there, or on any earbud if that one is
    not connected."""
    created_at: datetime
    rung_at: datetime | None = None

    def late_s(self, now: datetime) -> float:
        """How many seconds past due it is at `now` (0 if not yet due)."""
        return max(0.0, (now.astimezone() - self.due_at).total_seconds())

    def to_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "due_at": self.due_at.isoformat(), "device": self.device,
                "created_at": self.created_at.isoformat(),
                "rung_at": self.rung_at.isoformat() if self.rung_at else None}


def _local(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds).astimezone()


def _reminder(row) -> Reminder:
    return Reminder(row[0], row[1], _local(row[2]), row[3], _local(row[4]), _local(row[5]) if row[5] else None)


def _seconds(moment: datetime) -> float:
    """Epoch seconds; a naive datetime is local time."""
    return moment.timestamp()


class ReminderStore:
    def __init__(self, path: Path | str | None = None, *, database: Database | None = None):
        self.db = database or Database(path)
        self.path = self.db.path

    def close(self) -> None:
        self.db.close()

    def add(self, label: str, due_at: datetime, device: str | None = None) -> Reminder:
        created = time.time()
        with self.db.transaction() as conn:
            cursor = conn.execute("INSERT INTO reminders(label, due_at, device, created_at) VALUES (?,?,?,?)",
                                  (label, _seconds(due_at), device, created))
        return Reminder(cursor.lastrowid, label, _local(_seconds(due_at)), device, _local(created))

    def get(self, reminder_id: int) -> Reminder | None:
        with self.db.transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM reminders WHERE id = ?", (reminder_id,)).fetchone()
        return _reminder(row) if row else None

    def due(self, now: datetime | None = None) -> list[Reminder]:
        """Reminders due at `now` that have not rung yet, earliest first (however late they are)."""
        now = now or datetime.now().astimezone()
        with self.db.transaction() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM reminders WHERE rung_at IS NULL AND due_at <= ? "
                                "ORDER BY due_at, id", (_seconds(now),)).fetchall()
        return [_reminder(r) for r in rows]

    def next_due_at(self) -> datetime | None:
        """When the next reminder falls due (for a bridge that sleeps until then)."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT MIN(due_at) FROM reminders WHERE rung_at IS NULL").fetchone()
        return _local(row[0]) if row and row[0] is not None else None

    def mark_rung(self, reminder_id: int, now: datetime | None = None) -> None:
        """The reminder was spoken; rung reminders older than a day are dropped (nothing is kept longer than
        needed)."""
        rung = _seconds(now or datetime.now().astimezone())
        with self.db.transaction() as conn:
            conn.execute("UPDATE reminders SET rung_at = ? WHERE id = ?", (rung, reminder_id))
            conn.execute("DELETE FROM reminders WHERE rung_at IS NOT NULL AND rung_at < ?", (rung - 86400,))

    def upcoming(self) -> list[Reminder]:
        """Reminders that have not rung yet, soonest first."""
        with self.db.transaction() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM reminders WHERE rung_at IS NULL ORDER BY due_at, id")
            return [_reminder(r) for r in rows]

    def all(self) -> list[Reminder]:
        with self.db.transaction() as conn:
            return [_reminder(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM reminders ORDER BY due_at, id")]

    def matching(self, text: str) -> list[Reminder]:
        """Upcoming reminders whose label shares a word with `text` ("the reminder about mom")."""
        words = set(content_words(text))
        return [r for r in self.upcoming() if words & set(content_words(r.label))]

    def cancel(self, reminder_id: int) -> Reminder | None:
        """Remove a reminder; the removed one, or None if there was none with that id."""
        reminder = self.get(reminder_id)
        if reminder:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM reminders WHERE id = ?", (reminder_id,))
        return reminder

    def cancel_matching(self, text: str) -> list[Reminder]:
        cancelled = self.matching(text)
        for reminder in cancelled:
            self.cancel(reminder.id)
        return cancelled


def ring_text(reminder: Reminder, now: datetime | None = None) -> str:
    """What the companion says, unprompted, when a reminder rings (with an apology if it is late)."""
    now = now or datetime.now().astimezone()
    late = reminder.late_s(now)
    if late < LATE_AFTER_S:
        return f"Here's your reminder: {reminder.label}."
    return f"Sorry, this reminder is late, it was for {spoken_time(reminder.due_at, now)}: {reminder.label}."


def spoken_time(moment: datetime, now: datetime) -> str:
    """A time as said aloud, with the day when it is not today: "5:30 PM", "tomorrow at 9 AM", "Friday at 9 AM"."""
    hour = moment.hour % 12 or 12
    clock = f"{hour} {'AM' if moment.hour < 12 else 'PM'}" if moment.minute == 0 else \
        f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
    days = (moment.date() - now.date()).days
    if days == 0:
        return clock
    if days == 1:
        return f"tomorrow at {clock}"
    if days == -1:
        return f"yesterday at {clock}"
    if 1 < days < 7:
        return f"{moment.strftime('%A')} at {clock}"
    return f"{moment.strftime('%B')} {moment.day} at {clock}"
