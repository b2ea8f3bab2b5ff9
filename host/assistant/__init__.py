"""The assistant core: text in, a short warm reply (and maybe actions) out. No I/O, no audio.

Each skill is one small file in `skills/` and one line in `skills/__init__.py`'s SKILLS list; the first skill
that answers wins, and when none does the assistant says so kindly.
"""

from __future__ import annotations

from host.assistant.context import Context
from host.assistant.text import normalize
from host.assistant.reply import Reply

__all__ = ["Assistant", "Context", "Reply"]

NOTHING_HEARD = "Sorry, I didn't hear anything. Try again whenever you like."
NOT_UNDERSTOOD = "Sorry, I didn't catch that. You can ask me the time, the date, or to set a timer."


class Assistant:
    def __init__(self, skills: list | None = None):
        if skills is None:
            from host.assistant.skills import SKILLS

            skills = SKILLS
        self.skills = list(skills)

    def respond(self, text: str, context: Context) -> Reply:
        """The reply to what the user said. Pure: side effects are returned as actions, never done here, so a
        reply can be prepared speculatively and thrown away."""
        words = normalize(text)
        if not words:
            return Reply(NOTHING_HEARD, skill="fallback", remember=False)
        for skill in self.skills:
            reply = skill.answer(words, context)
            if reply is not None:
                return reply
        return Reply(NOT_UNDERSTOOD, skill="fallback", remember=False)
