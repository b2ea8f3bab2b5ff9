"""'Go quiet' — enter quiet mode: the earbud stops listening until the switch or `earpiece quiet off`."""

import re

from host.assistant.context import Context
from host.assistant.reply import EnterQuiet, Reply

_ASKS_QUIET = re.compile(r"\b((go|be|get|stay|keep) quiet|quiet mode|stop listening|go to sleep|mute yourself)\b")


class QuietSkill:
    name = "quiet"

    def answer(self, words: str, context: Context) -> Reply | None:
        if not _ASKS_QUIET.search(words):
            return None
        return Reply("Okay, going quiet. I'm not listening now.", actions=(EnterQuiet(),), skill=self.name,
                     remember=False)
