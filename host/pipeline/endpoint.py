"""Endpointing stage: webrtcvad decides when an utterance starts and ends.

Listening starts after the wake word (or a button press). The endpointer keeps the last `pre_roll_s` of audio
so the first syllable, spoken before enough voiced frames were seen, is not lost; speech ends after `hangover_s`
of silence (60 ms into that silence it reports SpeechPaused, so recognition can start speculatively),
after `max_utterance_s`, or never starts (NoSpeech after `no_speech_timeout_s`).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import webrtcvad

from host.pipeline.clock import AudioClock
from host.pipeline.messages import SAMPLE_RATE, NoSpeech, SpeechAudio, SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted

FRAME_MS = 20  # webrtcvad takes 10, 20 or 30 ms frames; 20 ms is the earbud's frame: decisions as audio arrives
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2
START_FRAMES = 4  # this many voiced frames in a row start an utterance (one click is not speech)
# A pause is this many silent frames in a row. Inside words the VAD hears 20-40 ms gaps (the closure before a
# "t" or "k"); reporting each as a pause started a speculative recognition that was thrown away a moment later
# but kept a core busy, and the real end's recognition ran at half speed behind it (turns took ~650 ms, not ~400).
PAUSE_FRAMES = 3
# webrtcvad keeps saying "speech" for a few frames after the voice stops (its built-in overhang, 40-180 ms), which
# would delay the end of every utterance by that much: a frame whose loudest sample stays under QUIET_PEAK
# (-40 dBFS) and QUIET_RATIO of the utterance's loudest is silence whatever the VAD says (the ratio spares soft
# speakers). Noise above it leaves the decision to the VAD alone.
QUIET_PEAK = 330
QUIET_RATIO = 0.05

Event = SpeechStarted | SpeechAudio | SpeechPaused | SpeechResumed | SpeechEnded | NoSpeech


class Endpointer:
    """Feed PCM with `process`; between `start()` and an end event it reports the utterance's events."""

    def __init__(self, aggressiveness: int = 2, pre_roll_s: float = 0.5, hangover_s: float = 0.3,
                 max_utterance_s: float = 10.0, no_speech_timeout_s: float = 4.0, clock: AudioClock | None = None):
        # A session passes its clock (and advances it); alone, the endpointer keeps one of its own.
        self.clock = clock or AudioClock()
        self._own_clock = clock is None
        self._held = 0  # bytes of the fed audio not yet processed (a partial frame, or frames after this one)
        self._vad = webrtcvad.Vad(aggressiveness)
        self.hangover_frames = max(1, round(hangover_s * 1000 / FRAME_MS))
        self.max_frames = round(max_utterance_s * 1000 / FRAME_MS)
        self.no_speech_frames = round(no_speech_timeout_s * 1000 / FRAME_MS)
        self._no_speech_frames = self.no_speech_frames  # this listening's (start() may ask for another)
        self._history: deque[bytes] = deque(maxlen=max(1, round(pre_roll_s * 1000 / FRAME_MS)))
        self._pending = b""
        self.listening = False
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self._in_speech = False
        self._voiced_run = 0
        self._silent_run = 0
        self._utterance: list[bytes] = []
        self._voiced_len = 0  # frames of the utterance up to and including the last voiced frame
        self._listen_frames = 0
        self._loudest = 0  # the loudest voiced frame of this utterance so far (its peak sample)
        self._quiet_below = 0  # frames quieter than this are silence: none until the utterance's level is known

    @property
    def time_s(self) -> float:
        """Audio time at the end of the frame being processed (between calls: of the last whole frame fed)."""
        return self.clock.time_at(self._held)

    def start(self, pre_roll_s: float | None = None, cut_at_pause: bool = False,
              no_speech_s: float | None = None) -> None:
        """Start listening for an utterance; the pre-roll is the audio processed just before.

        After a wake word, older audio is the wake word itself, which confuses recognizers: `pre_roll_s` keeps
        less this time, and `cut_at_pause` drops everything up to the last unvoiced frame in it (the pause
        between the wake word and the request)."""
        self._reset_utterance()
        self.listening = True
        self._no_speech_frames = (self.no_speech_frames if no_speech_s is None
                                  else max(1, round(no_speech_s * 1000 / FRAME_MS)))
        if pre_roll_s is not None:
            keep = round(pre_roll_s * 1000 / FRAME_MS)
            while len(self._history) > keep:
                self._history.popleft()
        if cut_at_pause:
            frames = list(self._history)
            unvoiced = [i for i, frame in enumerate(frames) if not self._vad.is_speech(frame, SAMPLE_RATE)]
            if unvoiced:
                self._history.clear()
                self._history.extend(frames[unvoiced[-1]:])

    def stop(self) -> None:
        """Stop listening without an event (e.g. the user pressed the button or quiet mode began)."""
        self.listening = False
        self._reset_utterance()

    def process(self, pcm: bytes) -> list[Event]:
        if self._own_clock:
            self.clock.advance(len(pcm))
        data = self._pending + pcm
        usable = len(data) - len(data) % FRAME_BYTES
        self._pending = data[usable:]
        events: list[Event] = []
        for offset in range(0, usable, FRAME_BYTES):
            self._held = len(data) - offset - FRAME_BYTES
            events.extend(self._frame(data[offset: offset + FRAME_BYTES]))
        self._held = len(self._pending)
        return events

    def _frame(self, frame: bytes) -> list[Event]:
        if not self.listening:
            self._history.append(frame)
            return []
        peak = _peak(frame)
        voiced = self._vad.is_speech(frame, SAMPLE_RATE) and peak >= self._quiet_below
        if voiced and self._in_speech:
            self._loudest = max(self._loudest, peak)
            self._quiet_below = min(QUIET_PEAK, self._loudest * QUIET_RATIO)
        self._listen_frames += 1
        if not self._in_speech:
            self._history.append(frame)
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= START_FRAMES:
                self._in_speech = True
                self._utterance = list(self._history)
                self._voiced_len = len(self._utterance)
                self._history.clear()
                return [SpeechStarted(self.time_s - START_FRAMES * FRAME_MS / 1000, b"".join(self._utterance))]
            if self._listen_frames >= self._no_speech_frames:
                self.listening = False
                return [NoSpeech(self.time_s)]
            return []
        self._utterance.append(frame)
        events: list[Event] = [SpeechAudio(frame)]
        if voiced:
            if self._silent_run >= PAUSE_FRAMES:
                events.append(SpeechResumed(self.time_s - FRAME_MS / 1000))
            self._silent_run = 0
            self._voiced_len = len(self._utterance)
        else:
            self._silent_run += 1
            if self._silent_run == PAUSE_FRAMES:
                events.append(SpeechPaused(self._last_voice_s(), b"".join(self._utterance[: self._voiced_len])))
        if self._silent_run >= self.hangover_frames:
            events.append(self._end("silence"))
        elif len(self._utterance) >= self.max_frames:
            events.append(self._end("max_length"))
        return events

    @property
    def silence_s(self) -> float:
        """How long the voice has been silent in the utterance in progress (0 outside a pause)."""
        return self._silent_run * FRAME_MS / 1000 if self.listening and self._in_speech else 0.0

    @property
    def utterance_bytes(self) -> int:
        """Length of the audio an end decided now would hand over (up to the last voiced frame)."""
        return self._voiced_len * FRAME_BYTES if self.listening and self._in_speech else 0

    @property
    def utterance_with_pause(self) -> bytes:
        """The utterance in progress with the silence after it so far (what an end-of-turn model listens to)."""
        return b"".join(self._utterance) if self.listening and self._in_speech else b""

    def end_now(self, reason: str = "complete") -> SpeechEnded | None:
        """End the utterance in progress before the hangover runs out (the caller knows the request is complete),
        exactly as the hangover would have ended it; None when no speech is in progress."""
        if not (self.listening and self._in_speech):
            return None
        return self._end(reason)

    def _end(self, reason: str) -> SpeechEnded:
        audio = b"".join(self._utterance[: self._voiced_len])
        last_voice_s = self._last_voice_s()
        self.listening = False
        self._reset_utterance()
        return SpeechEnded(audio, reason, last_voice_s, self.time_s)

    def _last_voice_s(self) -> float:
        return self.time_s - (len(self._utterance) - self._voiced_len) * FRAME_MS / 1000


def _peak(frame: bytes) -> int:
    samples = np.frombuffer(frame, dtype="<i2").astype(np.int32)
    return int(np.abs(samples).max())
