"""A near miss of the wake phrase through the whole system (radio, simulated earbud with its echo path, `earpiece
run`): the wake-word model fires on it, the verification rejects it, so it gets no cue and no answer, and `earpiece
status` counts it (`wake_rejected`); the real wake phrase after it is answered."""

from __future__ import annotations

import re
import subprocess

import pytest

from host.pipeline.audio import read_wav, silence
from tests.e2e.conftest import ECHO_PATH, LEAD_IN_S

pytestmark = pytest.mark.e2e

# Near misses the wake-word model fires on at this rate (bench part `listening`): several, so that one still
# fires after the earbud's ADPCM codec.
NEAR_MISSES = (("Hey jars", "en-us"), ("Hey Java", "en-us"), ("Hey chatterbox", "en-gb"))


def slow(text: str, voice: str, folder) -> bytes:
    path = folder / f"{voice}-{text.replace(' ', '_')}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    return read_wav(path)


def test_a_near_miss_gets_no_answer_and_is_counted(tmp_path, start_system, speak):
    near = b"".join(slow(text, voice, tmp_path) + silence(3.0) for text, voice in NEAR_MISSES)
    system = start_system(silence(LEAD_IN_S) + near + speak("Hey Jarvis, what time is it?") + silence(8.0),
                          earbud_args=ECHO_PATH)
    [turn] = system.wait_for_turn(1, timeout=90)
    log = system.bridge_text()
    assert "rejected: the recognizer did not hear it" in log, log[-3000:]
    status = system.status()
    assert status["wake_rejected"] >= 1 and status["wake_detections"] >= status["wake_rejected"] + 1, status
    # The only turn is the real question's: the near misses got no answer (and no cue).
    assert "time" in turn.lower(), turn
    heard = re.findall(r" heard: .*", log)
    assert len(heard) == 1 and "time" in heard[0].lower(), heard
