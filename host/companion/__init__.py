"""The companion behind the skills: memory the user owns, reminders, and the conversation model.

`load_companion(config)` opens everything once (the bridge and `earpiece ask` both use it); `Companion.context()`
gives the assistant its read-only view, `Companion.carry_out()` does the actions a reply asks for, and
`Companion.messages()` is what the conversation model is asked when no skill answers.
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
from host.companion.conversation.base import ConversationEngine
from host.companion.conversation.loading import load_conversation_engine
from host.companion.prompt import build_messages, load_persona
from host.companion.store import Database, MemoryStoreError

__all__ = ["Companion", "MemoryStoreError", "carry_out", "load_companion"]


@dataclass
class Companion:
    assistant: Assistant
    memory: MemoryStore | None
    """None when the memory file cannot be used (reported once; the skills say memory is not available)."""
    reminders: ReminderStore | None
    history_turns: int = 6
    """How many past exchanges a conversation engine is given (`[memory] history_turns`)."""
    forget_on_quiet: bool = False
    """Whether quiet wipes the conversation history (`[memory] forget_on_quiet`)."""
    last_fact_id: dict = field(default_factory=dict)
    """device -> id of the fact stored last in its conversation ("forget that")."""
    conversation: ConversationEngine | None = None
    """The model for what no skill answers (None: the skills alone answer)."""
    persona: str = ""
    """The persona prompt ([assistant] persona, or the built-in one)."""
    facts_in_prompt: int = 4

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

    def messages(self, heard: str, device: str | None = None, now: datetime | None = None) -> list[dict]:
        """The conversation model's prompt for `heard`: persona, this earbud's recent history, the facts that bear
        on these words. Reads the database (run it off the event loop)."""
        facts, history = [], []
        if self.memory is not None:
            facts = [fact.text for fact in self.memory.search(heard, limit=self.facts_in_prompt)]
            turns = self.memory.history(device, HISTORY_LOOKBACK)
            history = [(turn.user_text, turn.reply_text) for turn in turns[history_start(len(turns), self.history_turns):]]
        return build_messages(self.persona, heard, facts, history, now)

    def record_turn(self, device: str | None, heard: str, reply: Reply, sent: str | None = None) -> None:
        """Keep the exchange in the conversation history (only within `[memory] history_days`). `sent`: the user
        message exactly as the model was given it, so that the next prompt begins with this one (a local model
        then reads only what is new)."""
        if self.memory is not None:
            self.memory.add_turn(device, sent or heard, reply.text)

    def quiet(self, device: str | None = None) -> None:
        """Quiet began: forget the conversation if the user asked for that."""
        if self.forget_on_quiet and self.memory is not None:
            self.memory.wipe_history(device, everyone=device is None)

    def close(self, conversation: bool = True) -> None:
        """Close the stores, and the conversation model unless `conversation=False` (someone else owns it)."""
        if conversation and self.conversation is not None:
            self.conversation.close()
        if self.memory is not None:
            self.memory.db.close()


HISTORY_LOOKBACK = 200  # turns read to place the history window (far more than a day's conversation needs)


def history_start(turns: int, keep: int) -> int:
    """Where the history given to the model starts: at most `keep` turns, but the start moves only every
    `keep // 2` turns. A window sliding by one each turn would change the prompt right after the persona, and a
    local model would then re-read the whole history every turn (seconds); a window that stays put reuses it."""
    if keep <= 0:
        return turns
    step = max(1, keep // 2)
    return -(-max(0, turns - keep) // step) * step


def load_companion(config=None, path: Path | str | None = None, embedder="auto", conversation: bool = False,
                   models_root: Path | None = None) -> Companion:
    """The assistant with its memory and reminders, from the user's settings (`config`: host.config.Config), and
    with `conversation` its conversation model ([assistant]). Raises MemoryStoreError (corrupt or locked file) —
    never overwriting the file — and ModelError/ConversationError/PersonaError for an unusable model setting."""
    from host.config import Config

    config = config or Config()
    settings = config.memory
    database = Database(path)
    memory = MemoryStore(history_days=settings.history_days, embedder=embedder, database=database)
    companion = Companion(Assistant(), memory, ReminderStore(database=database), history_turns=settings.history_turns,
                          forget_on_quiet=settings.forget_on_quiet)
    if conversation:
        companion.persona = load_persona(config.assistant.persona)
        companion.conversation = load_conversation_engine(config.assistant, models_root)
    return companion
