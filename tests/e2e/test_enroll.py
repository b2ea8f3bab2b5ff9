"""Only the wearer, through the whole system: quiet stops an enrolment and nothing is kept; an enrolment through the
simulated earbud (the wearer repeats the prompts, whose echo the earbud's mic hears too); then a second speaker's
question is ignored before recognition and the wearer's is answered."""

from __future__ import annotations

import json
import re
import stat
import subprocess

import pytest

from host.pipeline.audio import silence
from host.system.demo import write_wav
from host.system.harness import EARPIECE
from tests.e2e.conftest import ECHO_PATH, LEAD_IN_S
from tests.system_rig import System, earpiece

pytestmark = pytest.mark.e2e

WEARER = "en"  # espeak-ng's default voice
BYSTANDER = "en+f3"  # another voice (a female variant): similarity with the wearer's about 0.4
SENTENCES = ("The quick brown fox jumps over the lazy dog.", "Please remind me to water the plants on Sunday.",
             "What will the weather be like tomorrow morning?", "My favourite colour is green.",
             "She sells sea shells by the sea shore.", "How far is it to the nearest train station?")
CONFIG = "[privacy]\nstore_transcripts = true\n[assistant]\nfollow_up_s = 0\nengine = \"off\"\n"


def test_enrol_then_only_the_wearer_is_answered_and_quiet_stops_enrolment(tmp_path, use_models, speech):
    # The wearer reads on and on: whenever a prompt has been said, they are heard repeating a sentence.
    reading = b"".join(speech(text, WEARER) + silence(1.2) for text in SENTENCES)
    system = System.start(tmp_path, use_models, silence(1.0) + reading, name="Earpiece-Enrol",
                          speaker=tmp_path / "speaker.wav", config_toml=CONFIG, earbud_args=ECHO_PATH)
    voiceprints = tmp_path / "home" / "data" / "voiceprints.json"
    try:
        # Quiet during enrolment stops it, and nothing is kept.
        enrolling = subprocess.Popen([str(EARPIECE), "enroll", system.name], env=system.env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        system.wait_for(lambda: "enrolment: recording" in system.bridge_text(), 30, "enrolment to start")
        system.quiet("on")
        _, stderr = enrolling.communicate(timeout=30)
        assert enrolling.returncode == 1 and "went quiet" in stderr, stderr
        assert not voiceprints.exists()
        refused = system.cli("enroll", system.name, check=False)
        assert refused.returncode == 1 and "is quiet" in refused.stderr, refused.stderr
        system.quiet("off")

        enrolled = earpiece("enroll", system.name, "--json", env=system.env, timeout=240, check=False)
        assert enrolled.returncode == 0, f"{enrolled.stderr}\n{system.bridge_text()[-3000:]}"
        result = json.loads(enrolled.stdout)
        assert result["ok"] and result["voiced_s"] >= 8, result
        assert stat.S_IMODE(voiceprints.stat().st_mode) == 0o600
        assert stat.S_IMODE(voiceprints.parent.stat().st_mode) == 0o700
        listed = json.loads(system.cli("memory", "voice", "--json").stdout)["voiceprints"]
        assert [v["device"] for v in listed] == [system.name]

        # A bystander asks first (wake word and all), then the wearer; the earbud's mic loops this.
        questions = tmp_path / "questions.wav"
        write_wav(questions, silence(LEAD_IN_S + 1) + speech("Hey Jarvis, what day is it today?", BYSTANDER)
                  + silence(6) + speech("Hey Jarvis, what time is it?", WEARER) + silence(20))
        system.mic = questions
        system.reboot_earbud()
        system.wait_for(lambda: system.status(check=False).get("not_wearer", 0) >= 1
                        and any(" answered" in turn for turn in system.turns()), 150,
                        "the stranger ignored and the wearer answered")
        turns = system.turns()
        assert not any(re.search(r"heard ['\"][^'\"]*day", turn, re.IGNORECASE) for turn in turns), turns
        assert all("heard" not in turn for turn in turns if "not_wearer" in turn), turns
        assert any(re.search(r"answered.* heard .*time", turn) for turn in turns), turns
        assert "not the wearer's voice" in system.bridge_text()

        # Forgotten: everyone is heard again.
        system.cli("memory", "voice", "--forget", system.name)
        assert not voiceprints.exists()
    finally:
        system.stop()
