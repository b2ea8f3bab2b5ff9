"""'Forget that', 'forget everything about Amy' — facts removed from memory (a ForgetFacts action naming them)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from host.assistant.context import Context
from host.assistant.reply import ForgetFacts, Reply
from host.companion.phrasing import inline, second_person
from host.errors import EarpieceError

log = logging.getLogger(__name__)

_ASKS = re.compile(r"^(?:(?:please|can you|could you|now|okay|ok|oh|and) )*forget\b ?(?P<rest>.*)$")
_LAST = re.compile(r"^(?:that|it|this|what i just (?:said|told you)|the last thing(?: i (?:said|told you))?)$")
_EVERYTHING = re.compile(r"^(?:everything|all|all of it|everything you know|everything about me|"
                         r"everything you know about me|all about me|me)$")
_ABOUT = re.compile(r"^(?:everything |all |anything |what )?(?:you know |i (?:said|told you) |i've told you )?"
                    r"about (?P<topic>.+)$")
# "Forget that" reaches back this far when the conversation's last fact is not known (e.g. `earpiece ask`).
RECENT = timedelta(minutes=10)


class ForgetSkill:
    name = "forget"

    def answer(self, words: str, context: Context) -> Reply | None:
        asked = _ASKS.match(words)
        if not asked:
            return None
        rest = asked.group("rest")
        memory = context.memory
        if memory is None:
            return Reply("My memory isn't available right now, so there's nothing to forget.", skill=self.name)
        if _EVERYTHING.match(rest):
            return Reply("To forget everything at once, run earpiece memory forget all on your computer. Or tell "
                         "me what to forget, like: forget everything about Amy.", skill=self.name)
        try:
            if not rest or _LAST.match(rest):
                facts = self._last(context)
                if not facts:
                    return Reply("There's nothing new to forget. You can say, for example, forget everything "
                                 "about Amy.", skill=self.name)
            elif about := _ABOUT.match(rest):
                facts = memory.matching(about.group("topic"))
                if not facts:
                    return Reply(f"I don't know anything about {second_person(about.group('topic'))}.",
                                 skill=self.name)
            else:  # "forget that my sister is called Amy"
                facts = memory.search(re.sub(r"^that ", "", rest), limit=1)
                if not facts:
                    return Reply("I don't remember that.", skill=self.name)
        except EarpieceError as error:
            log.warning("forget: %s", error)
            return Reply("I can't read my memory right now. The log says why.", skill=self.name)
        ids = tuple(fact.id for fact in facts)
        if len(facts) == 1:
            text = f"Okay, I've forgotten that {inline(facts[0].text)}."
        else:
            text = f"Okay, I've forgotten {len(facts)} things."
        return Reply(text, actions=(ForgetFacts(ids),), skill=self.name)

    @staticmethod
    def _last(context: Context):
        memory = context.memory
        if context.last_fact_id is not None:
            fact = memory.get(context.last_fact_id) if context.last_fact_id else None
        else:
            fact = memory.latest(context.device, context.now.astimezone() - RECENT)
        return [fact] if fact else []
