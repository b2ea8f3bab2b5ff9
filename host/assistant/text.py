"""Turning a recognizer's text into plain words skills can match."""

import re

# Recognizers often keep the tail of the wake word ("Jarvis, what time is it?"): it is not part of the request.
_WAKE_PREFIX = re.compile(r"^(?:(?:hey|hi|okay|ok)\s+)?(?:jarvis|alexa|mycroft|rhasspy)\b\s*")
_NOT_WORD = re.compile(r"[^a-z0-9'\s-]+")


def normalize(text: str) -> str:
    """Lowercase words separated by single spaces, punctuation and a leading wake word removed."""
    words = _NOT_WORD.sub(" ", text.lower()).replace("-", " ")
    words = " ".join(words.split())
    return _WAKE_PREFIX.sub("", words).strip()
