"""Split a reply into sentences, so the first can be spoken while the rest is still being synthesized."""

import re

_BOUNDARY = re.compile(r"(?<=[.!?;])\s+(?=\S)")


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _BOUNDARY.split(text.strip()) if part.strip()]
