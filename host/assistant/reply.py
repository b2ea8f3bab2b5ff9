"""What the assistant hands back: a reply to speak and the actions to carry out once the turn is committed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Action:
    """Something the assistant wants done besides speaking (base class)."""


@dataclass(frozen=True)
class EnterQuiet(Action):
    """Enter quiet mode (stop all listening); the request came from the user's voice."""


@dataclass(frozen=True)
class StartTimer(Action):
    """Start a timer; when it rings the companion speaks up unprompted."""

    seconds: float
    """How long the timer runs."""
    label: str
    """How to call it when it rings, e.g. "five minute"."""


@dataclass(frozen=True)
class Remember(Action):
    """Keep a fact the user told (host.companion.carry_out stores it in memory)."""

    text: str
    """The fact as the companion says it back: "Your sister's birthday is on May 3rd." """
    said: str
    """The user's words it came from."""


@dataclass(frozen=True)
class ForgetFacts(Action):
    """Remove facts from memory, by id (the skill has already said which)."""

    ids: tuple[int, ...]


@dataclass(frozen=True)
class SetReminder(Action):
    """Keep a reminder; the bridge speaks it up unprompted when it falls due, even after a restart."""

    label: str
    """What to remind of, as it will be said: "call your mom"."""
    due_at: datetime


@dataclass(frozen=True)
class CancelReminders(Action):
    """Remove reminders, by id."""

    ids: tuple[int, ...]


@dataclass(frozen=True)
class Reply:
    """The assistant's answer to one utterance."""

    text: str
    """What to say (may be several sentences; spoken sentence by sentence)."""
    actions: tuple[Action, ...] = ()
    """Side effects to carry out once the turn is committed (never during speculation)."""
    skill: str = ""
    """Which skill answered ("fallback" when nothing understood)."""
    remember: bool = True
    """Whether "repeat that" should repeat this reply."""
