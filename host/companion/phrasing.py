"""Turning what the user said about themselves into what the companion says back: "my sister" -> "your sister"."""

from __future__ import annotations

import re

_SWAPS = {"i": "you", "i'm": "you're", "im": "you're", "me": "you", "my": "your", "mine": "yours",
          "myself": "yourself", "i've": "you've", "i'd": "you'd", "i'll": "you'll", "am": "are", "was": "were"}
_TOKEN = re.compile(r"[A-Za-z']+|[^A-Za-z']+")
_CLEAN = re.compile(r"[^A-Za-z0-9'\s-]+")


def second_person(text: str) -> str:
    """`text` with the speaker's I/me/my said as you/your ("I was" -> "you were"; "was" only after I)."""
    out, previous = [], ""
    for token in _TOKEN.findall(text):
        lower = token.lower()
        swapped = _SWAPS.get(lower) if lower not in ("am", "was") or previous == "i" else None
        out.append(swapped if swapped else token)
        if token.strip():
            previous = lower
    return "".join(out)


def as_sentence(text: str) -> str:
    """A capitalized sentence with a full stop."""
    text = text.strip().rstrip(",;:")
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def inline(sentence: str) -> str:
    """A fact sentence to be said inside another ("I'll remember that your ..."): no full stop, "Your" -> "your"."""
    sentence = sentence.rstrip(".!? ")
    first, _, rest = sentence.partition(" ")
    if first in ("Your", "You", "You're", "You've", "Yours"):
        first = first.lower()
    return f"{first} {rest}".strip()


def raw_tail(heard: str, words: str, start: int) -> str | None:
    """The recognizer's own text (capitals, "5:30", "May 3rd") from the `start`-th word of its normalized
    `words` on; None when the two cannot be lined up."""
    cased = " ".join(_CLEAN.sub(" ", heard).replace("-", " ").split()).split()
    normal = words.split()
    if not normal or [w.lower() for w in cased[-len(normal):]] != normal:
        return None
    first = len(cased) - len(normal) + start
    position = 0
    for index, token in enumerate(cased):
        position = heard.find(token, position)
        if position < 0:
            return None
        if index == first:
            return heard[position:].strip().rstrip(".!?,; ")
        position += len(token)
    return None
