"""Carrying out what the assistant's memory and reminder skills asked for (the bridge and `earpiece ask` both do)."""

from __future__ import annotations

from host.assistant.reply import Action, CancelReminders, ForgetFacts, Remember, SetReminder
from host.companion.memory import Fact, MemoryStore
from host.companion.reminders import Reminder, ReminderStore

COMPANION_ACTIONS = (Remember, ForgetFacts, SetReminder, CancelReminders)


def carry_out(action: Action, memory: MemoryStore | None, reminders: ReminderStore | None,
              device: str | None = None) -> Fact | Reminder | list | None:
    """Do `action` if it is one of the companion's: the Fact or Reminder stored, or the list removed. Returns
    None for other actions (quiet and timers belong to the bridge). Raises MemoryStoreError if the file cannot
    be used, or when the store an action needs is missing."""
    from host.companion.store import MemoryStoreError

    if isinstance(action, (Remember, ForgetFacts)) and memory is None:
        raise MemoryStoreError("the companion's memory is not open; nothing was stored or removed")
    if isinstance(action, (SetReminder, CancelReminders)) and reminders is None:
        raise MemoryStoreError("the companion's reminders are not open; nothing was stored or removed")
    if isinstance(action, Remember):
        return memory.add(action.text, action.said, device)
    if isinstance(action, ForgetFacts):
        return [fact for fact in (memory.forget(i) for i in action.ids) if fact]
    if isinstance(action, SetReminder):
        return reminders.add(action.label, action.due_at, device)
    if isinstance(action, CancelReminders):
        return [r for r in (reminders.cancel(i) for i in action.ids) if r]
    return None
