"""Whole sentences out of a stream of text deltas, each as soon as it is complete, so the first can be spoken
while the rest is still being generated. The sentence boundaries are the TTS splitter's; line breaks end a
sentence too, and markdown marks a chat model may add (`**`, `#`, backticks) are not read aloud."""

from __future__ import annotations

import re
from typing import Iterable, Iterator

from host.pipeline.tts.sentences import split_sentences

_MARKUP = re.compile(r"[*_#`]+")


def speakable(text: str) -> str:
    """`text` without markdown marks and with runs of whitespace made one space."""
    return " ".join(_MARKUP.sub("", text).split())


def sentences(deltas: Iterable[str], first_clause_words: int = 0) -> Iterator[str]:
    """Yield each sentence of the text `deltas` make up, as soon as the next one has begun (or the text ends).
    `first_clause_words`: when > 0, the first piece may end at a comma once it has that many words, so that the
    first words are spoken sooner (a long first sentence costs a second of generation before any sound).

    Closing this generator closes `deltas` too (so closing it stops the model)."""
    pending = ""
    first = first_clause_words > 0
    try:
        for delta in deltas:
            pending += delta
            if first and (clause := _first_clause(pending, first_clause_words)):
                first, pending = False, pending[len(clause):]
                if spoken := speakable(clause):
                    yield spoken
                continue
            *done, pending = _split(pending)
            if done:
                first = False
            for sentence in done:
                if sentence := speakable(sentence):
                    yield sentence
        for sentence in _split(pending):
            if sentence := speakable(sentence):
                yield sentence
    finally:
        close = getattr(deltas, "close", None)
        if close:
            close()


def _first_clause(text: str, min_words: int) -> str | None:
    """The text up to and including a comma, semicolon or colon that ends a clause of at least `min_words` words
    and is followed by more text (so "3,5" is not cut), or None."""
    for match in _CLAUSE_END.finditer(text):
        clause = text[: match.end()]
        if len(clause.split()) >= min_words and match.end() < len(text):
            return clause
    return None


_CLAUSE_END = re.compile(r"[,;:](?=\s)")


def _split(text: str) -> list[str]:
    """`text` cut at sentence ends and line breaks; the last part is the unfinished rest (kept with its spacing)."""
    lines = text.split("\n")
    parts: list[str] = []
    for line in lines[:-1]:
        parts.extend(split_sentences(line))
    last = lines[-1]
    pieces = split_sentences(last)
    if len(pieces) > 1:
        # Keep the unfinished rest as typed (a leading space matters for the next delta, e.g. "3." + "5").
        rest_at = last.rindex(pieces[-1])
        parts.extend(pieces[:-1])
        parts.append(last[rest_at:])
    else:
        parts.append(last)
    return parts
