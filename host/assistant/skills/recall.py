"""'When is my sister's birthday?', 'What do you know about me?', 'What did I tell you about Amy?' — answered from
the facts the user asked the companion to keep (read only; the best match said back)."""

from __future__ import annotations

import logging
import re

from host.assistant.context import Context
from host.assistant.reply import Reply
from host.companion.memory import RELATED, WORD_BONUS
from host.companion.phrasing import second_person
from host.errors import EarpieceError

log = logging.getLogger(__name__)

_EVERYTHING = re.compile(r"\b(?:what (?:else )?do you (?:know|remember) about me|what have i told you|"
                         r"what do you remember|what do you know|tell me what you know about me)$")
_ABOUT = re.compile(r"\b(?:what did i (?:tell you|say) about|what have i told you about|"
                    r"what do you (?:know|remember) about(?= my)|do you remember(?: anything about)?(?= my)) "
                    r"(?P<topic>.+)")
_MAYBE_ABOUT = re.compile(r"\b(?:what do you (?:know|remember) about|do you remember|who is|who's) (?P<topic>.+)")
_QUESTION = re.compile(r"^(?:when|what|what's|whats|who|who's|where|where's|which|how|do|does|am|is|are|did)\b")
_ABOUT_ME = re.compile(r"\b(?:my|i|me|i'm|mine)\b")
_MY_THING = re.compile(r"^(?:when|what|who|where)(?: is|'s| are| was) my (?P<thing>[a-z' ]+?)(?: called| named)?$")
CONFIDENT = RELATED + WORD_BONUS  # a question answered unasked-for needs a close match
MOST = 5


class RecallSkill:
    name = "recall"

    def answer(self, words: str, context: Context) -> Reply | None:
        memory = context.memory
        everything, about = _EVERYTHING.search(words), _ABOUT.search(words)
        maybe = _MAYBE_ABOUT.search(words)
        question = _QUESTION.match(words) and _ABOUT_ME.search(words)
        if not (everything or about or maybe or question):
            return None
        if memory is None:
            return Reply("My memory isn't available right now, sorry.", skill=self.name) \
                if everything or about else None
        try:
            if everything:
                return self._everything(memory)
            topic = (about or maybe).group("topic") if (about or maybe) else words
            scored = memory.scored(topic)
        except EarpieceError as error:
            log.warning("recall: %s", error)
            return Reply("I can't read my memory right now. The log says why.", skill=self.name)
        if about:
            if not scored:
                return Reply(f"You haven't told me anything about {second_person(about.group('topic'))} yet.",
                             skill=self.name)
            return Reply(" ".join(fact.text for _, fact in scored[:3]), skill=self.name)
        if scored and scored[0][0] >= CONFIDENT:
            return Reply(scored[0][1].text, skill=self.name)
        mine = _MY_THING.match(words)
        if mine and question:
            return Reply(f"I don't think you've told me about your {mine.group('thing')} yet.", skill=self.name)
        return None

    def _everything(self, memory) -> Reply:
        facts = memory.all()
        if not facts:
            return Reply("You haven't told me anything about yourself yet. You can say, for example, remember "
                         "that my favourite colour is green.", skill=self.name)
        newest = list(reversed(facts))[:MOST]
        more = len(facts) - len(newest)
        tail = f" And {more} more thing{'s' if more != 1 else ''}." if more else ""
        return Reply("Here's what you've told me. " + " ".join(f.text for f in newest) + tail, skill=self.name)
