"""What a skill may know besides the words: the time, the last reply, the earbud's latest status, and read-only
handles on the companion's memory and reminders (skills read them; writes are returned as actions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from host.companion.memory import MemoryStore
    from host.companion.reminders import ReminderStore


@dataclass(frozen=True)
class Context:
    now: datetime = field(default_factory=lambda: datetime.now().astimezone())
    """Local time of the request."""
    last_reply: str | None = None
    """What the companion said last (for "repeat that")."""
    battery: int | None = None
    """Earbud battery percent from the latest Status (None: not known yet)."""
    charging: bool = False
    """Whether the earbud is charging (latest Status)."""
    heard: str = ""
    """What the recognizer wrote, before normalizing (keeps capitals, e.g. names, for remembered facts)."""
    device: str | None = None
    """The earbud the request came through (None: typed, e.g. `earpiece ask`)."""
    memory: MemoryStore | None = None
    """The user's facts (None: no memory available; remember/recall say so)."""
    reminders: ReminderStore | None = None
    """The user's reminders (None: reminders not available)."""
    last_fact_id: int | None = None
    """The fact stored last in this conversation ("forget that"); 0: none (it was forgotten); None: not known, so
    the newest fact told through this device in the last few minutes."""
