"""The companion through the whole system: radio, earbud and `earpiece run` as processes, the real conversation
model, memory that survives a bridge restart, a reminder rung unprompted, and memory forgotten on request."""

from __future__ import annotations

import json
import re
import time

import pytest

from host.pipeline.audio import read_wav, silence
from host.system.demo import write_wav
from tests.e2e.conftest import LEAD_IN_S, voiced_segments
from tests.system_rig import System

pytestmark = pytest.mark.e2e

CONFIG = "[privacy]\nstore_transcripts = true\n[assistant]\nfollow_up_s = 0\n"
FALLBACKS = ("Sorry, I didn't catch that", "Sorry, I can't think straight")
MAY_THIRD = re.compile(r"May (3rd|third|3)\b")


def replies(system: System) -> list[tuple[str, str]]:
    """(heard, answered) of each turn the bridge logged (transcripts are kept in this test's settings)."""
    found = re.findall(r"turn \(.*heard (['\"])(.*?)\1 -> (['\"])(.*?)\3$", system.bridge_text(), re.MULTILINE)
    return [(heard, answered) for _, heard, _, answered in found]


def test_it_converses_remembers_across_a_restart_reminds_and_forgets(tmp_path, use_models, speak, engines):
    # The open question comes last: however long the model's answer, it holds up nothing after it.
    said = [speak("Hey Jarvis, remember that my sister's birthday is on May third."),
            speak("Hey Jarvis, remind me to call mom in one minute."), speak("Hey Jarvis, how are you today?")]
    mic = silence(LEAD_IN_S) + b"".join(line + silence(8.0) for line in said) + silence(120)
    system = System.start(tmp_path, use_models, mic, name="Earpiece-Pal", speaker=tmp_path / "speaker.wav",
                          config_toml=CONFIG)
    try:
        system.wait_for_turn(3, timeout=120)
        (_, remembered), (_, reminding), (_, how) = replies(system)[:3]
        assert "remember" in remembered.lower(), remembered
        assert "remind" in reminding.lower(), reminding
        assert how and not how.startswith(FALLBACKS), how  # the model answered, not the menu

        # A restart of the bridge, and the earbud now hears only the question.
        system.stop_bridge()
        question = tmp_path / "question.wav"
        write_wav(question, silence(LEAD_IN_S) + speak("Hey Jarvis, when is my sister's birthday?") + silence(120))
        system.mic = question
        system.reboot_earbud()
        system.start_bridge()
        system.wait_for_turn(4, timeout=90)
        heard, answer = replies(system)[-1]
        assert "birthday" in heard.lower() and MAY_THIRD.search(answer), (heard, answer)

        # The reminder rings in the ear a minute after it was set (the restart is part of that minute).
        upcoming = lambda: json.loads(system.cli("reminders", "list", "--json").stdout)["reminders"]  # noqa: E731
        system.wait_for(lambda: not upcoming(), 90, "the reminder to ring")
        system.wait_for(lambda: "rung" in system.bridge_text(), 10, "the bridge to log the reminder")
        time.sleep(5.0)  # it plays out in real time
    finally:
        system.stop()  # the speaker WAV is complete now
    ear = read_wav(system.speaker)
    start, end = voiced_segments(ear)[-1]
    heard_in_ear = engines.asr.transcribe(ear[int(start * 16000) * 2: int(end * 16000) * 2])
    heard_in_ear = heard_in_ear.lower()
    assert "reminder" in heard_in_ear and re.search(r"\bm[ou]m\b", heard_in_ear), heard_in_ear  # mom / mum

    # Forgotten with the CLI: no longer recalled.
    facts = json.loads(system.cli("memory", "list", "--json").stdout)["facts"]
    [fact] = [f for f in facts if "birthday" in f["text"].lower()]
    system.cli("memory", "forget", str(fact["id"]))
    answer = json.loads(system.cli("ask", "When is my sister's birthday?", "--json").stdout)["text"]
    assert not MAY_THIRD.search(answer), answer
