"""The assistant core: skills answer short and warm; actions are returned, never done."""

from __future__ import annotations

from datetime import datetime

import pytest

from host.assistant import Assistant, Context
from host.assistant.numbers import parse_duration, spoken_duration
from host.assistant.reply import EnterQuiet, Reply, StartTimer

NOW = datetime(2026, 11, 21, 15, 7)


@pytest.fixture
def assistant():
    return Assistant()


def ask(assistant, text, **context):
    return assistant.respond(text, Context(now=NOW, **context))


def test_time_and_date(assistant):
    assert ask(assistant, "Jarvis, what time is it?").text == "It's 3:07 PM."
    assert ask(assistant, "What's the date today?").text == "Today is Saturday, November 21st."


@pytest.mark.parametrize("said, seconds, label", [
    ("Set a timer for five minutes.", 300, "five minute"),
    ("set a timer for 2 seconds", 2, "two second"),
    ("Set a timer for 1 hour and 30 minutes", 5400, "ninety minute"),
    ("timer for half an hour please", 1800, "thirty minute"),
    ("set a timer for twenty-five minutes", 1500, "twenty five minute"),
])
def test_timers_return_an_action(assistant, said, seconds, label):
    reply = ask(assistant, said)
    assert reply.actions == (StartTimer(seconds, label),)
    assert reply.text == f"Okay, {label} timer, starting now."


def test_a_timer_without_a_duration_asks_how_long(assistant):
    reply = ask(assistant, "Set a timer.")
    assert reply.actions == () and "How long" in reply.text


def test_go_quiet_returns_the_quiet_action(assistant):
    reply = ask(assistant, "Hey Jarvis, go quiet.")
    assert reply.actions == (EnterQuiet(),) and reply.skill == "quiet"


def test_repeat_that(assistant):
    assert ask(assistant, "Repeat that.", last_reply="It's 3:07 PM.").text == "It's 3:07 PM."
    assert ask(assistant, "Say that again").text == "I haven't said anything yet."


def test_battery_from_the_latest_status(assistant):
    assert ask(assistant, "Check the battery.", battery=42).text == "Your earbud battery is at 42 percent."
    assert "charging" in ask(assistant, "battery?", battery=90, charging=True).text
    assert "don't know" in ask(assistant, "battery?").text


def test_not_understood_and_nothing_heard_are_answered_kindly(assistant):
    assert ask(assistant, "Purple monkey dishwasher.").skill == "fallback"
    assert "didn't catch" in ask(assistant, "Purple monkey dishwasher.").text
    assert "didn't hear" in ask(assistant, "  ").text


def test_a_skill_is_one_small_class():
    class Greeting:
        name = "greeting"

        def answer(self, words, context):
            return Reply("Hello to you too.", skill=self.name) if words.startswith("hello") else None

    assistant = Assistant([Greeting()])
    assert assistant.respond("Hello!", Context()).text == "Hello to you too."


def test_durations():
    assert parse_duration("a minute") == 60
    assert parse_duration("ninety seconds") == 90
    assert parse_duration("nothing here") is None
    assert spoken_duration(300) == "five minute" and spoken_duration(7200) == "two hour"


@pytest.mark.parametrize("said", ["What's the weather like?", "Is it going to rain tomorrow?", "What's in the news?"])
def test_weather_and_news_are_declined_honestly_not_made_up(said):
    reply = Assistant().respond(said, Context())
    assert reply.skill == "offline" and "offline" in reply.text
