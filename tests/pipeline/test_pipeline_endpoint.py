"""Endpointing stage: webrtcvad with pre-roll, hangover, maximum length and a no-speech timeout."""

from __future__ import annotations

import numpy as np
import pytest

from host.pipeline.audio import silence
from host.pipeline.endpoint import Endpointer
from host.pipeline.messages import NoSpeech, SpeechAudio, SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted


def events_of(endpointer, pcm):
    return [e for e in endpointer.process(pcm) if not isinstance(e, SpeechAudio)]


def test_an_utterance_keeps_its_first_syllable_and_ends_after_the_hangover(speech):
    said = speech("Seven apples.")
    endpointer = Endpointer(pre_roll_s=0.3, hangover_s=0.3)
    endpointer.process(silence(1.0))
    endpointer.start()
    events = events_of(endpointer, said + silence(1.0))
    kinds = [type(e) for e in events]
    assert kinds[0] is SpeechStarted and kinds[-1] is SpeechEnded and SpeechPaused in kinds
    end = events[-1]
    assert end.reason == "silence"
    # Pre-roll: the utterance starts before the VAD was sure, so it holds all of the voiced audio.
    voiced = np.flatnonzero(np.abs(np.frombuffer(said, "<i2")) > 300)
    assert len(end.audio) // 2 >= voiced[-1] - voiced[0]
    assert end.time_s - end.last_voice_s >= 0.29
    assert not endpointer.listening


def test_without_pre_roll_the_start_is_clipped(speech):
    said = speech("Seven apples.")
    lengths = []
    for pre_roll in (0.03, 0.5):
        endpointer = Endpointer(pre_roll_s=pre_roll)
        endpointer.process(silence(1.0))
        endpointer.start()
        lengths.append(len(events_of(endpointer, said + silence(1.0))[-1].audio))
    assert lengths[1] > lengths[0]


def test_a_pause_shorter_than_the_hangover_does_not_end_it(speech):
    endpointer = Endpointer(hangover_s=0.8)
    endpointer.start()
    events = events_of(endpointer, speech("one") + silence(0.4) + speech("two") + silence(1.2))
    assert sum(isinstance(e, SpeechEnded) for e in events) == 1
    assert any(isinstance(e, SpeechResumed) for e in events)


def test_nobody_speaking_gives_no_speech_after_the_timeout():
    endpointer = Endpointer(no_speech_timeout_s=1.0)
    endpointer.start()
    assert events_of(endpointer, silence(0.9)) == []
    [event] = events_of(endpointer, silence(0.3))
    assert isinstance(event, NoSpeech) and not endpointer.listening


def test_a_long_utterance_is_cut_at_the_maximum_length(speech):
    endpointer = Endpointer(max_utterance_s=1.0, hangover_s=0.5)
    endpointer.start()
    events = events_of(endpointer, speech("This is a rather long sentence that keeps on going for a while."))
    end = [e for e in events if isinstance(e, SpeechEnded)][0]
    assert end.reason == "max_length" and len(end.audio) <= 2 * 16000 * 1.0 + 960


def test_nothing_is_reported_when_not_listening(speech):
    assert Endpointer().process(speech("Hello there.")) == []


def test_after_a_wake_word_the_pre_roll_starts_at_the_pause_before_the_request(speech):
    """The wake word itself must not reach the recognizer, but a request spoken right after it must be whole."""
    wake, request = speech("Hey Jarvis"), speech("Seven apples.")
    endpointer = Endpointer(pre_roll_s=0.5)
    endpointer.process(silence(1.0) + wake + silence(0.09))  # listening starts in the short pause after it
    endpointer.start(pre_roll_s=0.5, cut_at_pause=True)
    end = events_of(endpointer, request + silence(1.0))[-1]
    assert isinstance(end, SpeechEnded)
    # Holds all of the request's voiced audio, and none of "Hey Jarvis" (0.9 s long).
    voiced = np.flatnonzero(np.abs(np.frombuffer(request, "<i2")) > 300)
    assert voiced[-1] - voiced[0] <= len(end.audio) // 2 < len(request) // 2 + 0.12 * 16000


def test_gaps_inside_words_are_not_pauses(speech):
    """A speculative recognition starts at each pause: the VAD's 20-40 ms gaps inside words must not count."""
    said = speech("What time is it?")  # espeak leaves 20-40 ms gaps before the "t"s
    endpointer = Endpointer(hangover_s=0.3)
    endpointer.process(silence(0.5))
    endpointer.start()
    events = events_of(endpointer, said + silence(1.0))
    assert [type(e) for e in events] == [SpeechStarted, SpeechPaused, SpeechEnded]
    paused, ended = events[1], events[2]
    assert paused.audio == ended.audio and paused.time_s == pytest.approx(ended.last_voice_s)


def test_a_pause_is_reported_three_frames_into_the_silence(speech):
    endpointer = Endpointer(hangover_s=0.8)
    endpointer.start()
    events = events_of(endpointer, speech("one") + silence(0.3) + speech("two") + silence(1.2))
    pauses = [e for e in events if isinstance(e, SpeechPaused)]
    assert len(pauses) == 2 and sum(isinstance(e, SpeechResumed) for e in events) == 1
