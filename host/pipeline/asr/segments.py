"""A recording cut into utterances for recognition, losing nothing: `earpiece transcribe` and the ASR measurements.

The endpointer is fed 20 ms at a time, as the bridge feeds it, and restarted after every utterance. Speech that
runs past the maximum length is not dropped: the utterance is cut at its longest pause (the speaker's breath
between sentences, not the middle of a word) and what follows the pause opens the next utterance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from host.pipeline.endpoint import FRAME_BYTES, Endpointer
from host.pipeline.messages import SAMPLE_RATE, SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted

BYTES_PER_S = SAMPLE_RATE * 2
# A cut at a pause must leave at least this share of the utterance before it: a pause in the first words would
# leave a sliver, then a second utterance as long as the first.
EARLIEST_CUT = 0.3


@dataclass(frozen=True)
class Utterance:
    start_s: float  # when its speech began, in the recording's time
    end_s: float  # when its last voiced frame ended
    audio: bytes  # 16 kHz PCM as the recognizer gets it (with the endpointer's pre-roll)


def split_utterances(pcm: bytes, endpointer: Endpointer, tail_s: float = 1.0) -> Iterator[Utterance]:
    """Utterances in 16 kHz PCM in order, as the endpointer (fresh, never started) hears them; `tail_s` of silence
    after the recording lets the last one end as a pause would."""
    carry = b""  # speech after the cut of an utterance that ran too long: the start of the next one
    carry_start_s = 0.0
    start_s = 0.0
    pauses: list[tuple[float, bytes, float]] = []  # (last voiced time, audio up to it, pause length) this utterance
    longest = endpointer.max_frames
    endpointer.start()
    padded = pcm + bytes(int(tail_s * SAMPLE_RATE) * 2)
    for offset in range(0, len(padded) - FRAME_BYTES + 1, FRAME_BYTES):
        for event in endpointer.process(padded[offset: offset + FRAME_BYTES]):
            if isinstance(event, SpeechStarted):
                start_s = carry_start_s if carry else event.time_s
                pauses = []
            elif isinstance(event, SpeechPaused):
                pauses.append((event.time_s, event.audio, 0.0))
            elif isinstance(event, SpeechResumed) and pauses:
                last_voice_s, audio, _ = pauses[-1]
                pauses[-1] = (last_voice_s, audio, event.time_s - last_voice_s)
            elif isinstance(event, SpeechEnded):
                audio = carry + event.audio
                if pauses and pauses[-1][1] == event.audio:  # cut off inside a pause: that pause is its length so far
                    pauses[-1] = (pauses[-1][0], event.audio, event.time_s - event.last_voice_s)
                cut = _cut_at_longest_pause(pauses, len(event.audio)) if event.reason == "max_length" else None
                if cut is None:
                    yield Utterance(round(start_s, 2), round(event.last_voice_s, 2), audio)
                    carry = b""
                else:
                    last_voice_s, before = cut
                    yield Utterance(round(start_s, 2), round(last_voice_s, 2), carry + before)
                    carry, carry_start_s = event.audio[len(before):], last_voice_s
                # Carried speech counts toward the next utterance's length.
                endpointer.max_frames = max(1, longest - len(carry) // FRAME_BYTES)
                endpointer.start()
    if carry:
        yield Utterance(round(carry_start_s, 2), round(carry_start_s + len(carry) / BYTES_PER_S, 2), carry)


def _cut_at_longest_pause(pauses: list[tuple[float, bytes, float]], length: int) -> tuple[float, bytes] | None:
    """(last voiced time, audio before) of the longest pause past EARLIEST_CUT of the utterance, or None."""
    usable = [(gap, time_s, audio) for time_s, audio, gap in pauses if len(audio) >= EARLIEST_CUT * length]
    if not usable:
        return None
    _, time_s, audio = max(usable, key=lambda pause: pause[0])
    return time_s, audio
