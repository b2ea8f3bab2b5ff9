"""'What's the date?' / 'What day is it?'"""

import re

from host.assistant.context import Context
from host.assistant.reply import Reply

_ASKS_DATE = re.compile(r"\b(what's the date|what is the date|today's date|the date today|what day|which day|"
                        r"what's today|what is today)\b")


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


class DateSkill:
    name = "date"

    def answer(self, words: str, context: Context) -> Reply | None:
        if not _ASKS_DATE.search(words):
            return None
        now = context.now
        return Reply(f"Today is {now:%A}, {now:%B} {_ordinal(now.day)}.", skill=self.name)
