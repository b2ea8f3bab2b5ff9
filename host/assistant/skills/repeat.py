"""'Repeat that' — say the last reply again."""

import re

from host.assistant.context import Context
from host.assistant.reply import Reply

_ASKS_REPEAT = re.compile(r"\b(repeat( that| it| please)?|say (that|it) again|what did you say|come again|"
                          r"pardon)\b")


class RepeatSkill:
    name = "repeat"

    def answer(self, words: str, context: Context) -> Reply | None:
        if not _ASKS_REPEAT.search(words):
            return None
        if not context.last_reply:
            return Reply("I haven't said anything yet.", skill=self.name, remember=False)
        return Reply(context.last_reply, skill=self.name, remember=False)
