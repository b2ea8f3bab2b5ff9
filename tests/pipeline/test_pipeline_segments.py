"""A recording cut into utterances (`host.pipeline.asr.segments`): nothing lost, long speech split at pauses."""

from __future__ import annotations

from host.pipeline.asr.segments import split_utterances
from host.pipeline.audio import silence
from host.pipeline.endpoint import Endpointer

SENTENCES = ["The captain steered the ship toward the harbour lights.", "Please turn off the kitchen lights.",
             "What time does the train leave tomorrow morning?", "Play some music by the Beatles.",
             "The meeting with the doctor is on Friday afternoon."]


def seconds(pcm: bytes) -> float:
    return len(pcm) / 32000


def test_each_sentence_after_a_long_pause_is_its_own_utterance(speech):
    parts = [speech(sentence) for sentence in SENTENCES]
    pcm = b"".join(part + silence(1.0) for part in parts)
    found = list(split_utterances(pcm, Endpointer(hangover_s=0.6, max_utterance_s=20, no_speech_timeout_s=1e9)))
    assert len(found) == len(SENTENCES)
    offset = 0.0
    for part, utterance in zip(parts, found):
        assert offset <= utterance.start_s < offset + seconds(part)  # each heard where it was said
        assert utterance.end_s <= offset + seconds(part) + 0.1
        offset += seconds(part) + 1.0


def test_speech_longer_than_the_maximum_is_split_at_pauses_and_kept_whole(speech):
    pcm = b"".join(speech(sentence) for sentence in SENTENCES)  # only espeak's own short pauses between them
    assert seconds(pcm) > 12
    found = list(split_utterances(pcm, Endpointer(hangover_s=0.6, max_utterance_s=5.0, no_speech_timeout_s=1e9)))
    assert len(found) >= 3
    assert all(seconds(u.audio) <= 5.0 + 0.05 for u in found)  # carried speech counts toward the next maximum
    starts = [u.start_s for u in found]
    assert starts == sorted(starts) and found[-1].end_s > seconds(pcm) - 1.0
    # Nothing dropped: the utterances hold all the speech (the endpointer trims only silence and adds pre-roll).
    assert sum(seconds(u.audio) for u in found) > 0.9 * seconds(pcm)
