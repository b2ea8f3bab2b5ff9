"""Recognition through a Wyoming server, end to end: radio, earbud, `earpiece run` and wyoming-faster-whisper as
separate processes. The server answers the first question; killed, the next question is answered by the local
engine after a short spoken notice, and the one after that plainly, locally."""

from __future__ import annotations

import re

import pytest

from host.pipeline.asr.fallback import NOTICE
from host.pipeline.audio import silence
from tests.e2e.conftest import LEAD_IN_S
from tests.system_rig import NO_CONVERSATION_MODEL, System
from tests.wyoming_peers import start_whisper

pytestmark = pytest.mark.e2e

ANSWER = r"It's \d{1,2}:\d\d [AP]M\."


def test_recognition_through_a_wyoming_server_survives_its_death(tmp_path, use_models, speak):
    server = start_whisper(tmp_path / "whisper", use_models)
    question = speak("Hey Jarvis, what time is it?")
    mic = silence(LEAD_IN_S) + (question + silence(9)) * 3
    # timeout_s: the server is killed, not slow; on a busy test machine a live one can take seconds.
    config = (f'[asr]\nengine = "wyoming"\nuri = "{server.uri}"\ntimeout_s = 20\n'
              "[privacy]\nstore_transcripts = true\n" + NO_CONVERSATION_MODEL + "follow_up_s = 0\n")
    system = System.start(tmp_path, use_models, mic, name="Earpiece-Wyoming", config_toml=config,
                          wait_connected=False)
    try:
        [first] = system.wait_for_turn(1, timeout=60)
        server.kill()
        assert re.search(rf"heard 'What time is it\?' -> \"{ANSWER}\"", first), first
        assert f"speech recognition: faster-whisper 3.8.1 at {server.uri}" in system.bridge_text()
        second = system.wait_for_turn(2, timeout=40)[1]
        assert re.search(rf"heard 'What time is it\?' -> \"{re.escape(NOTICE)} {ANSWER}\"", second), second
        third = system.wait_for_turn(3, timeout=40)[2]
        assert re.search(rf"heard 'What time is it\?' -> \"{ANSWER}\"", third), third
        log = system.bridge_text()
        failures = [line for line in log.splitlines() if "speech recognition: the Wyoming server" in line]
        assert len(failures) == 1 and server.uri in failures[0], failures  # one line, once
        assert "Traceback" not in log
        assert len(system.earbud.read_stats()["speaker_stream_starts"]) >= 2  # the notice and answers reached the ear
    finally:
        system.stop()
        server.stop()
