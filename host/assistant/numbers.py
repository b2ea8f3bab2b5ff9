"""Spoken numbers and durations ("twenty five", "5", "half an hour") as values."""

from __future__ import annotations

import re

_UNITS = {"zero": 0, "one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
          "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_SECONDS = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600}
_NUMBER = r"(\d+(?:\.\d+)?|(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?: (?:one|two|three|four|five|six|seven|eight|nine))?)|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|an|a)"
_DURATION = re.compile(_NUMBER + r"(?: and a half)? (seconds?|secs?|minutes?|mins?|hours?)\b")
_HALF = re.compile(r"\bhalf (?:an|a) (hour|minute)\b")


def parse_number(word: str) -> float | None:
    if re.fullmatch(r"\d+(?:\.\d+)?", word):
        return float(word)
    parts = word.split()
    if len(parts) == 2 and parts[0] in _TENS and parts[1] in _UNITS:
        return float(_TENS[parts[0]] + _UNITS[parts[1]])
    if word in _TENS:
        return float(_TENS[word])
    return float(_UNITS[word]) if word in _UNITS else None


def parse_duration(words: str) -> float | None:
    """Seconds in phrases like "five minutes", "1 hour and 30 minutes", "half an hour"; None if none found."""
    total = 0.0
    found = False
    for match in _HALF.finditer(words):
        total += _SECONDS[match.group(1)] / 2
        found = True
    words = _HALF.sub(" ", words)  # so "half an hour" is not also read as "an hour"
    for match in _DURATION.finditer(words):
        value = parse_number(match.group(1))
        if value is None:
            continue
        if " and a half" in match.group(0):
            value += 0.5
        total += value * _SECONDS[match.group(2).rstrip("s")]
        found = True
    return total if found else None


def spoken_duration(seconds: float) -> str:
    """A timer's name as people say it: 300 -> "five minute", 90 -> "90 second"."""
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{number_words(int(seconds // size))} {unit}"
    return f"{int(round(seconds))} second"


def number_words(count: int) -> str:
    """1..99 in words ("twenty five"); other numbers as digits."""
    units = {v: k for k, v in _UNITS.items() if k not in ("a", "an", "zero")}
    tens = {v: k for k, v in _TENS.items()}
    if count in units:
        return units[count]
    if 20 <= count < 100:
        return tens[count - count % 10] + (f" {units[count % 10]}" if count % 10 else "")
    return str(count)
