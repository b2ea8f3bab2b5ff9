"""'Remind me to call mom in ten minutes / at 5 pm / tomorrow at 9', 'what are my reminders', 'cancel the reminder
about mom' — reminders kept across restarts (SetReminder / CancelReminders actions; the list is read only)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from host.assistant.context import Context
from host.assistant.numbers import spoken_duration
from host.assistant.reply import CancelReminders, Reply, SetReminder
from host.companion.phrasing import second_person
from host.companion.reminders import spoken_time
from host.companion.when import find_time
from host.errors import EarpieceError

log = logging.getLogger(__name__)

_SET = re.compile(r"^(?:(?:please|can you|could you|would you|will you|and|also) )*reminds? me\b")  # "reminds me": a common mishearing
_LABEL_START = re.compile(r"^(?:to|about|that|of|for)\b ?")
_LIST = re.compile(r"\b(?:(?:what|which) (?:are|'re) (?:my|the) reminders|(?:what|which) reminders|"
                   r"(?:list|read|tell me|say) (?:my|the|all my|all the) reminders|(?:do|have) i (?:have |got )?"
                   r"(?:any )?reminders|any reminders)\b")
_CANCEL = re.compile(r"\b(?:cancel|delete|remove|clear|drop|forget) (?P<which>the |my |all |all my |all the |that )?"
                     r"(?P<plural>reminders?)\b(?: (?:about|to|for|of|that) (?P<topic>.+))?$")
LONGEST = timedelta(days=366)
LISTED = 5


class ReminderSkill:
    name = "reminders"

    def answer(self, words: str, context: Context) -> Reply | None:
        try:
            if _SET.match(words):
                return self._set(words, context)
            if cancel := _CANCEL.search(words):
                return self._cancel(cancel, context)
            if _LIST.search(words):
                return self._list(context)
        except EarpieceError as error:
            log.warning("reminders: %s", error)
            return Reply("I can't read your reminders right now. The log says why.", skill=self.name)
        return None

    def _set(self, words: str, context: Context) -> Reply | None:
        found = find_time(words, context.now)
        rest = _SET.sub("", found[1] if found else words).strip()
        label = second_person(_LABEL_START.sub("", rest).strip())
        if found and not label:
            return None  # "remind me in ten minutes": a timer
        if context.reminders is None:
            return Reply("I can't keep reminders right now, sorry.", skill=self.name)
        if not found:
            return Reply("When should I remind you? Say, for example, remind me to call mom at 5 PM.",
                         skill=self.name)
        due = found[0]
        if due - context.now > LONGEST:
            return Reply("That's too far ahead for me. Up to a year works.", skill=self.name)
        about = "" if rest.startswith(("about ", "that ")) else "to "
        return Reply(f"Okay, I'll remind you {about}{label} {when_said(due, context)}.",
                     actions=(SetReminder(label, due),), skill=self.name)

    def _list(self, context: Context) -> Reply:
        if context.reminders is None:
            return Reply("I can't read your reminders right now, sorry.", skill=self.name)
        upcoming = context.reminders.upcoming()
        if not upcoming:
            return Reply("You have no reminders.", skill=self.name)
        said = [f"{r.label} {at_time(r.due_at, context)}" for r in upcoming[:LISTED]]
        more = f" And {len(upcoming) - LISTED} more." if len(upcoming) > LISTED else ""
        count = "one reminder" if len(upcoming) == 1 else f"{len(upcoming)} reminders"
        return Reply(f"You have {count}: " + "; ".join(said) + "." + more, skill=self.name)

    def _cancel(self, match: re.Match, context: Context) -> Reply:
        if context.reminders is None:
            return Reply("I can't read your reminders right now, sorry.", skill=self.name)
        topic = match.group("topic")
        upcoming = context.reminders.upcoming()
        if topic:
            chosen = context.reminders.matching(topic)
            if not chosen:
                return Reply(f"I don't have a reminder about {second_person(topic)}.", skill=self.name)
        elif (match.group("which") or "").startswith("all") or match.group("plural") == "reminders":
            chosen = upcoming
        elif len(upcoming) == 1:
            chosen = upcoming
        else:
            chosen = []
            if upcoming:
                return Reply("Which one? Say, for example, cancel the reminder about mom.", skill=self.name)
        if not chosen:
            return Reply("You have no reminders to cancel.", skill=self.name)
        what = f"the reminder to {chosen[0].label}" if len(chosen) == 1 else f"{len(chosen)} reminders"
        return Reply(f"Okay, I've cancelled {what}.", actions=(CancelReminders(tuple(r.id for r in chosen)),),
                     skill=self.name)


def when_said(due, context: Context) -> str:
    """"in ten minutes" within the hour, else "at 5 PM", "tomorrow at 9 AM", "Friday at 9 AM"."""
    ahead = (due - context.now).total_seconds()
    if ahead < 3600:
        amount = spoken_duration(max(60, round(ahead / 60) * 60) if ahead >= 60 else round(ahead))
        return f"in {amount}" + ("" if amount.startswith("one ") else "s")
    return at_time(due, context)


def at_time(due, context: Context) -> str:
    """"at 5 PM", "tomorrow at 9 AM", "Friday at 9 AM"."""
    when = spoken_time(due, context.now)
    return when if " at " in when else f"at {when}"
