"""'Remember that my sister's birthday is on May third', 'my sister is called Amy', 'I'm allergic to peanuts' —
facts the user tells about themselves, kept (as a Remember action) and said back in the second person."""

from __future__ import annotations

import re

from host.assistant.context import Context
from host.assistant.reply import Remember, Reply
from host.companion.phrasing import as_sentence, inline, raw_tail, second_person

_ASKS = re.compile(r"^(?:(?:please|can you|could you|will you|would you|and|also|oh) )*"
                   r"(?:remember|note|keep in mind|don't forget|do not forget)(?: that)? ")
_NOT_A_FACT = re.compile(r"^(?:to|when|what|where|who|how|if|me|this|it)\b")
# Statements about the user that are worth keeping (not moods: "I'm tired" is conversation, not a fact).
_ABOUT_ME = re.compile(
    r"^(?:i am|i'm) (?:allergic|a|an|from|vegetarian|vegan|married|engaged|divorced|single|lactose|diabetic|"
    r"left handed|right handed|pregnant|retired|\d+|[a-z]+ (?:years|months) old|[a-z]+ years)\b"
    r"|^i (?:like|love|hate|prefer|enjoy|don't like|do not like|can't eat|cannot eat|don't eat|live|work|"
    r"was born|have a|have an|have two|have three|speak|play|drive|own)\b"
    r"|^my (?:[a-z0-9']+ ){0,4}?(?:is|are|was born|lives|live|works|likes|loves|hates|called|named)\b"
    r"|^my [a-z]+'s [a-z]")


class RememberSkill:
    name = "remember"

    def answer(self, words: str, context: Context) -> Reply | None:
        asked = _ASKS.match(words)
        if asked:
            rest = words[asked.end():]
            if _NOT_A_FACT.match(rest):
                return None
            start = len(words[:asked.end()].split())
        elif _ABOUT_ME.match(words):
            start = 0
        else:
            return None
        clause = raw_tail(context.heard, words, start) if context.heard else None
        fact = as_sentence(second_person(clause or " ".join(words.split()[start:])))
        if context.memory is None:
            return Reply("I can't keep memories right now: my memory isn't available.", skill=self.name)
        return Reply(f"Okay, I'll remember that {inline(fact)}.",
                     actions=(Remember(fact, context.heard or words),), skill=self.name)
