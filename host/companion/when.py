"""Spoken times as datetimes: "in ten minutes", "in 1 hour", "at 5 pm", "at 5:30", "tomorrow at 9", "tomorrow
morning", "on Friday at noon".

Works on the assistant's normalized words (lowercase; a recognizer's "5:30 p.m." arrives as "5 30 p m"). Times are
read relative to a given `now` (an aware local datetime). A clock time without am/pm means the next time today the
clock shows it; one that has passed today, or follows a day word, means 7..11 in the morning and 12..6 in the
afternoon ("tomorrow at 9" is 9 AM, "tomorrow at 5" is 5 PM).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from host.assistant.numbers import parse_duration, parse_number

_HOUR_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_MINUTE_WORDS = (r"(?:twenty|thirty|forty|fifty)(?: (?:one|two|three|four|five|six|seven|eight|nine))?|ten|eleven|"
                 r"twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|oh (?:one|two|three|four|"
                 r"five|six|seven|eight|nine)")
_UNIT = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?)"
_AMOUNT = r"(?:\d+(?:\.\d+)?|[a-z]+(?: [a-z]+)?)"
_RELATIVE = re.compile(rf"\bin (?:(?:half an hour|an hour and a half)|{_AMOUNT}(?: and a half)? {_UNIT}"
                       rf"(?: and {_AMOUNT} {_UNIT})?)\b")
_CLOCK = re.compile(
    rf"\bat (?P<hour>\d{{1,2}}|{_HOUR_WORDS})(?: (?P<minute>\d{{2}}|{_MINUTE_WORDS}))?"
    r"(?P<half> ?(?:a ?m|p ?m)\b| o'?clock\b)?"
    r"|\bat (?P<named>noon|midday|midnight)\b")
_DAY = re.compile(r"\b(?:(?P<word>tomorrow|today|tonight)|on (?P<weekday>monday|tuesday|wednesday|thursday|friday|"
                  r"saturday|sunday)|this (?P<part0>morning|afternoon|evening))"
                  r"(?: (?:morning|afternoon|evening|night))?\b")
_PART = re.compile(r"\b(?:in the )?(?P<part>morning|afternoon|evening|night)\b")
_PART_HOURS = {"morning": 9, "afternoon": 15, "evening": 19, "night": 20}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def find_time(words: str, now: datetime) -> tuple[datetime, str] | None:
    """When `words` say something should happen, and the words without that phrase; None if they name no time."""
    relative = _RELATIVE.search(words)
    if relative:
        phrase = re.sub(r"\bhrs?\b", "hour", relative.group(0)[3:])
        seconds = parse_duration(re.sub(r"(\S+) (hours?|minutes?) and a half", r"\1 and a half \2", phrase))
        if seconds:
            return now + timedelta(seconds=seconds), _cut(words, [relative])
    clock, day = _CLOCK.search(words), _DAY.search(words)
    part = _PART.search(words) if (day is None or not day.group(0).endswith(_PART_KEYS)) else None
    spans = [m for m in (clock, day, part) if m]
    if not clock and not day:
        return None
    day_start, day_named = _day(day, now)
    part_name = _part_name(day, part)
    if clock:
        hour, minute, meridiem = _clock(clock)
        if hour is None:
            return None
        if meridiem is None and part_name:
            meridiem = "am" if part_name == "morning" else "pm"
        if meridiem == "pm" and hour < 12:
            hour += 12
        elif meridiem == "am" and hour == 12:
            hour = 0
        if hour > 23 or minute > 59:
            return None
        if day_named:
            if meridiem is None and 1 <= hour <= 6:
                hour += 12
            return _at(day_start, hour, minute, now), _cut(words, spans)
        due = _at(day_start, hour, minute, now)
        if meridiem is None and hour < 12 and due <= now:  # "at 5" at 3 PM: five this afternoon
            due += timedelta(hours=12)
        if due <= now:  # passed today: tomorrow, read as if "tomorrow" had been said
            if meridiem is None and due.hour >= 12 and not 1 <= hour <= 6:
                due -= timedelta(hours=12)
            due += timedelta(days=1)
        return due, _cut(words, spans)
    if not day_named and day.group("word") == "today":
        return None  # "today" alone says no time
    hour = _PART_HOURS[part_name or ("night" if day.group("word") == "tonight" else "morning")]
    due = _at(day_start, hour, 0, now)
    return (due, _cut(words, spans)) if due > now else None


_PART_KEYS = ("morning", "afternoon", "evening", "night")


def _day(day: re.Match | None, now: datetime) -> tuple[datetime, bool]:
    """The date named (as local midnight) and whether a day other than "today" was named."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if day is None:
        return today, False
    if day.group("word") == "tomorrow":
        return today + timedelta(days=1), True
    if day.group("weekday"):
        ahead = (_WEEKDAYS.index(day.group("weekday")) - now.weekday() - 1) % 7 + 1
        return today + timedelta(days=ahead), True
    return today, False


def _part_name(day: re.Match | None, part: re.Match | None) -> str | None:
    if day is not None:
        if day.group("word") == "tonight":
            return "night"
        for name in _PART_KEYS:
            if day.group(0).endswith(name):
                return name
    return part.group("part") if part else None


def _clock(match: re.Match) -> tuple[int | None, int, str | None]:
    named = match.group("named")
    if named:
        return (0 if named == "midnight" else 12), 0, "am" if named == "midnight" else None
    hour = parse_number(match.group("hour"))
    minute_text = match.group("minute")
    minute = 0
    if minute_text:
        value = parse_number(minute_text.replace("oh ", ""))
        minute = int(value) if value is not None else 0
    half = (match.group("half") or "").replace(" ", "")
    meridiem = "am" if half.startswith("a") else "pm" if half.startswith("p") else None
    return (int(hour) if hour is not None else None), minute, meridiem


def _at(day: datetime, hour: int, minute: int, now: datetime) -> datetime:
    return datetime.combine(day.date(), time(hour, minute), tzinfo=now.tzinfo)


def _cut(words: str, matches: list[re.Match]) -> str:
    """`words` without the matched spans."""
    keep, position = [], 0
    for match in sorted(matches, key=lambda m: m.start()):
        if match.start() >= position:
            keep.append(words[position:match.start()])
            position = match.end()
    keep.append(words[position:])
    return " ".join("".join(keep).split())
