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


def sentences(deltas: Iterable[str]) -> Iterator[str]:
    """Yield each sentence of the text `deltas` make up, as soon as the next one has begun (or the text ends).

    Closing this generator closes `deltas` too (so closing it stops the model)."""
    pending = ""
    try:
        for delta in deltas:
            pending += delta
            *done, pending = _split(pending)
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
