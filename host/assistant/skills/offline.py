"""'What's the weather like?' / 'What's in the news?': Earpiece runs offline and says so, rather than letting a
conversation model make an answer up."""

import re

from host.assistant.context import Context
from host.assistant.reply import Reply

_WEATHER = re.compile(r"\b(weather|forecast|rain(ing)?|snow(ing)?|temperature outside|how (hot|cold) is it)\b")
_NEWS = re.compile(r"\b(news|headlines|stock (market|price)s?|sports? scores?|who won)\b")


class OfflineSkill:
    name = "offline"

    def answer(self, words: str, context: Context) -> Reply | None:
        if _WEATHER.search(words):
            return Reply("I can't see the weather: I run offline, on your own computer. A look outside will beat "
                         "any guess of mine.", skill=self.name)
        if _NEWS.search(words):
            return Reply("I don't get the news: I run offline, on your own computer, so anything I said about it "
                         "would be made up.", skill=self.name)
        return None
