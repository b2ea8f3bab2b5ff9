"""Interrupting a reply by voice, end to end, with the earbud's speaker leaking into its mic (`--echo`).

Radio, earbud and bridge (`earpiece run`) are separate processes. The mic asks a question with a long answer, then
speaks over that answer: "stop" and "Hey Jarvis, stop" cut the reply short, "uh-huh" does not. One system for all
three: a start costs more than the replies. The bare "stop" comes last: the cancellers learn the room over the first
replies, and until then a bare "stop" can be missed (bench/bench_barge_in.py, README "Interrupting a reply").
"""

from __future__ import annotations

import time

import pytest

from host.config import Config
from host.pipeline.audio import read_wav, silence
from host.pipeline.tts import load_engine as load_tts
from tests.e2e.conftest import ECHO_PATH, LEAD_IN_S, voiced_segments
from tests.system_rig import NO_CONVERSATION_MODEL, System

pytestmark = pytest.mark.e2e

QUESTION = "Hey Jarvis, what's the weather like?"
REPLY_STARTS_S = 3.0  # after the question: the reply has been playing for a second or two by then


@pytest.fixture(scope="module")
def full_reply_s():
    """How long the weather reply lasts when nobody interrupts it."""
    from host.assistant.skills.offline import OfflineSkill

    engine = load_tts(Config().tts)
    try:
        pcm = engine.synthesize(OfflineSkill().answer("weather", None).text)
    finally:
        engine.close()
    segments = voiced_segments(pcm)
    return segments[-1][1] - segments[0][0]


def test_stop_words_interrupt_a_reply_and_a_backchannel_does_not(tmp_path, use_models, speak, full_reply_s):
    """One system, three replies: "uh-huh" over the first (it plays to the end; the cancellers learn the room
    meanwhile, as they would on a first reply), "Hey Jarvis, stop" over the second, a bare "stop" over the third."""
    mic = silence(LEAD_IN_S)
    for words in ("uh-huh", "Hey Jarvis, stop", "stop"):
        mic += speak(QUESTION) + silence(REPLY_STARTS_S) + speak(words) + silence(8)
    system = System.start(tmp_path, use_models, mic, name="Earpiece-Barge", speaker=tmp_path / "speaker.wav",
                          config_toml="[privacy]\nstore_transcripts = true\n"
                          + NO_CONVERSATION_MODEL + "follow_up_s = 0\n",  # no follow-up: each question wakes
                          earbud_args=ECHO_PATH, wait_connected=False)
    try:
        system.wait_for_turn(timeout=40)
        # "Hey Jarvis, stop" is a turn of its own: count the questions
        system.wait_for(lambda: sum("weather" in str(turn) for turn in system.turns()) >= 3, 60, "the third question")
        time.sleep(8)  # the third reply would have played by now
    finally:
        system.stop()
    log = system.bridge_text()
    assert log.count("reply stopped by voice") >= 1, log[-3000:]  # the bare "stop" is only ever a stop word
    # The replies in order; cues are shorter. After "Hey Jarvis, stop" another may follow: the wake word stopped
    # the second reply at once, and the turn it began can mishear "stop" under load ("Sorry, I didn't catch that").
    replies = [b - a for a, b in voiced_segments(read_wav(system.speaker)) if b - a > 1.5]
    assert len(replies) >= 3, (replies, log[-3000:])
    assert replies[0] > full_reply_s - 0.3, (replies, full_reply_s, log[-3000:])  # "uh-huh" did not stop it
    # "Hey Jarvis, stop" stopped the second reply well before its end: at once on a sure wake-word score, or once
    # the recognizer confirmed a weaker one (about a second later, [wake] threshold_over_reply; seen 1.44 s before
    # the end); the bare "stop" stopped the third before its end (its recognition can wait for the stretch after it:
    # measured in bench/bench_barge_in.py, not here).
    assert replies[1] < full_reply_s - 1.0, (replies, full_reply_s, log[-3000:])
    assert min(replies[2:]) < full_reply_s - 0.3, (replies, full_reply_s, log[-3000:])
