"""Remember, recall, forget and reminders by voice: the real skills, a real memory file and the real model."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from host.assistant.reply import CancelReminders, ForgetFacts, Remember, SetReminder, StartTimer
from host.companion import load_companion


@pytest.fixture
def companion():
    made = load_companion()
    yield made
    made.close()


def say(companion, text, device="Earpiece 1", now=None):
    reply = companion.respond(text, device, now)
    companion.carry_out(reply, device)
    return reply


def test_remember_then_recall_after_a_restart(companion):
    reply = say(companion, "Remember that my system's birthday is on May 3rd.")
    assert reply.actions == (Remember("Your system's birthday is on May 3rd.",
                                      "Remember that my system's birthday is on May 3rd."),)
    assert reply.text == "Okay, I'll remember that your system's birthday is on May 3rd."
    say(companion, "remember that my sister's birthday is on May third")
    companion.close()
    again = load_companion()
    assert say(again, "When is my sister's birthday?").text == "Your sister's birthday is on May third."
    again.close()


@pytest.mark.parametrize("said, fact", [
    ("My sister is called Amy.", "Your sister is called Amy."),
    ("I'm allergic to peanuts.", "You're allergic to peanuts."),
    ("I like jazz.", "You like jazz."),
    ("My name is Sam", "Your name is Sam."),
])
def test_statements_about_the_user_are_kept(companion, said, fact):
    assert say(companion, said).actions == (Remember(fact, said),)


@pytest.mark.parametrize("said", ["I'm tired.", "My battery is low", "How are you today?", "what's the weather like"])
def test_other_talk_is_not_kept(companion, said):
    assert not any(isinstance(a, Remember) for a in say(companion, said).actions)
    assert companion.memory.all() == []


def test_what_do_you_know_about_me_and_about_amy(companion):
    assert "haven't told me anything" in say(companion, "What do you know about me?").text
    say(companion, "My sister is called Amy.")
    say(companion, "I'm allergic to peanuts.")
    everything = say(companion, "what do you know about me").text
    assert "Your sister is called Amy." in everything and "You're allergic to peanuts." in everything
    assert say(companion, "What did I tell you about Amy?").text == "Your sister is called Amy."
    assert say(companion, "what did I tell you about my car").text == \
        "You haven't told me anything about your car yet."
    assert say(companion, "when is my mom's birthday").text == \
        "I don't think you've told me about your mom's birthday yet."


def test_forget_that_and_forget_everything_about(companion):
    say(companion, "My sister is called Amy.")
    say(companion, "remember that Amy's birthday is on May 3rd")
    reply = say(companion, "Forget that.")
    assert isinstance(reply.actions[0], ForgetFacts) and "May 3rd" in reply.text
    assert [f.text for f in companion.memory.all()] == ["Your sister is called Amy."]
    assert say(companion, "forget that").text.startswith("There's nothing new to forget")
    say(companion, "remember that Amy likes tulips")
    reply = say(companion, "Forget everything about Amy.")
    assert reply.text == "Okay, I've forgotten 2 things." and companion.memory.all() == []
    assert "earpiece memory forget" in say(companion, "forget everything").text


def test_forget_that_through_ask_finds_the_newest_fact_of_the_device():
    first = load_companion()
    say(first, "remember that my locker is number 12", device=None)
    first.close()
    second = load_companion()  # a new `earpiece ask` process knows no last fact id
    assert "locker" in say(second, "forget that", device=None).text and second.memory.all() == []


def test_reminders_by_voice(companion):
    now = datetime.now().astimezone().replace(hour=15, minute=7, second=0, microsecond=0)
    reply = say(companion, "Remind me to call my mom in 10 minutes.", now=now)
    assert reply.actions == (SetReminder("call your mom", now + timedelta(minutes=10)),)
    assert reply.text == "Okay, I'll remind you to call your mom in ten minutes."
    reply = say(companion, "remind me to water the plants tomorrow at 9", now=now)
    assert reply.text == "Okay, I'll remind you to water the plants tomorrow at 9 AM."
    listed = say(companion, "What are my reminders?", now=now).text
    assert listed == "You have 2 reminders: call your mom at 3:17 PM; water the plants tomorrow at 9 AM."
    reply = say(companion, "Cancel the reminder about mom", now=now)
    assert isinstance(reply.actions[0], CancelReminders) and "call your mom" in reply.text
    assert [r.label for r in companion.reminders.upcoming()] == ["water the plants"]
    assert "When should I remind you" in say(companion, "remind me to call mom").text
    assert say(companion, "remind me in 5 minutes").actions == (StartTimer(300, "five minute"),)


def test_a_damaged_memory_file_is_refused_not_replaced(companion):
    companion.memory.close()
    companion.memory.path.write_bytes(b"garbage" * 200)
    from host.companion import MemoryStoreError

    with pytest.raises(MemoryStoreError):
        load_companion()
