"""The companion behind the skills: memory the user owns, reminders, and (later) the conversation engine.

`load_companion(config)` opens everything once (the bridge and `earpiece ask` both use it); `Companion.context()`
gives the assistant its read-only view, and `Companion.carry_out()` does the actions a reply asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from host.assistant import Assistant, Context
from host.assistant.reply import Action, Reply
from host.companion.actions import COMPANION_ACTIONS, carry_out
from host.companion.memory import MemoryStore
from host.companion.reminders import ReminderStore
from host.companion.store import Database, MemoryStoreError

__all__ = ["Companion", "MemoryStoreError", "carry_out", "load_companion"]


@dataclass
class Companion:
    assistant: Assistant
    memory: MemoryStore
    reminders: ReminderStore
    history_turns: int = 6
    """How many past exchanges a conversation engine is given (`[memory] history_turns`)."""
    forget_on_quiet: bool = False
    """Whether quiet wipes the conversation history (`[memory] forget_on_quiet`)."""
    last_fact_id: dict = field(default_factory=dict)
    """device -> id of the fact stored last in its conversation ("forget that")."""

    def context(self, heard: str, device: str | None = None, now: datetime | None = None, **status) -> Context:
        """What the assistant may read for one request; `status` passes last_reply, battery, charging."""
        return Context(now=now or datetime.now().astimezone(), heard=heard, device=device, memory=self.memory,
                       reminders=self.reminders, last_fact_id=self.last_fact_id.get(device), **status)

    def respond(self, heard: str, device: str | None = None, now: datetime | None = None, **status) -> Reply:
        """The assistant's reply (pure: nothing carried out yet)."""
        return self.assistant.respond(heard, self.context(heard, device, now, **status))

    def carry_out(self, reply: Reply, device: str | None = None) -> list[Action]:
        """Do the reply's memory and reminder actions; returns the others (quiet, timers) for the caller."""
        others = []
        for action in reply.actions:
            if not isinstance(action, COMPANION_ACTIONS):
                others.append(action)
                continue
            result = carry_out(action, self.memory, self.reminders, device)
            if hasattr(result, "said"):  # a Fact: "forget that" means this one now
                self.last_fact_id[device] = result.id
            elif isinstance(result, list) and any(getattr(f, "id", None) == self.last_fact_id.get(device)
                                                  for f in result if hasattr(f, "said")):
                self.last_fact_id[device] = 0  # forgotten: a second "forget that" finds nothing
        return others

    def record_turn(self, device: str | None, heard: str, reply: Reply) -> None:
        """Keep the exchange in the conversation history (only within `[memory] history_days`)."""
        self.memory.add_turn(device, heard, reply.text)

    def quiet(self, device: str | None = None) -> None:
        """Quiet began: forget the conversation if the user asked for that."""
        if self.forget_on_quiet:
            self.memory.wipe_history(device, everyone=device is None)

    def close(self) -> None:
        self.memory.db.close()


def load_companion(config=None, path: Path | str | None = None, embedder="auto") -> Companion:
    """The assistant with its memory and reminders, from the user's settings (`config`: host.config.Config).
    The conversation engine, when there is one, is added here too. Raises MemoryStoreError (corrupt or locked
    file) — never overwriting the file."""
    from host.config import Config

    config = config or Config()
    settings = config.memory
    database = Database(path)
    memory = MemoryStore(history_days=settings.history_days, embedder=embedder, database=database)
    return Companion(Assistant(), memory, ReminderStore(database=database), history_turns=settings.history_turns,
                     forget_on_quiet=settings.forget_on_quiet)
