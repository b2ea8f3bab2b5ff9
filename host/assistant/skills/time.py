"""'What time is it?'"""

import re

from host.assistant.context import Context
from host.assistant.reply import Reply

_ASKS_TIME = re.compile(r"\b(what time|what's the time|what is the time|the time please|tell me (?:\w+ )?the time|"
                        r"time is it|what the time is)\b")


class TimeSkill:
    name = "time"

    def answer(self, words: str, context: Context) -> Reply | None:
        if not _ASKS_TIME.search(words):
            return None
        hour = context.now.hour % 12 or 12
        half = "AM" if context.now.hour < 12 else "PM"
        return Reply(f"It's {hour}:{context.now.minute:02d} {half}.", skill=self.name)
