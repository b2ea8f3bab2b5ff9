"""What the pipeline stages hand each other: tiny dataclasses, one per event (in the style of rhasspy/wyoming).

Times are seconds of microphone audio since the stage started (the audio clock), so a stage behaves the same fed
in real time or faster.
"""

from __future__ import annotations

from dataclasses import dataclass

SAMPLE_RATE = 16000
"""Every PCM buffer between stages is 16-bit little-endian mono at this rate."""


@dataclass(frozen=True)
class WakeDetected:
    """The wake word was heard."""

    name: str
    """Which wake-word model fired (e.g. "hey_jarvis_v0.1")."""
    score: float
    """The model's score (0..1) at the detection."""
    time_s: float
    """Audio time at the end of the frame that crossed the threshold."""


@dataclass(frozen=True)
class SpeechStarted:
    """The endpointer heard speech begin."""

    time_s: float
    """Audio time at which voiced frames started (before the pre-roll)."""
    audio: bytes = b""
    """The utterance so far: pre-roll + the frames that started it (for streaming recognizers)."""


@dataclass(frozen=True)
class SpeechAudio:
    """One more frame of the utterance in progress (for streaming recognizers)."""

    audio: bytes
    """16 kHz PCM, one endpointer frame."""


@dataclass(frozen=True)
class SpeechPaused:
    """Speech stopped; the hangover runs. A good moment to start recognizing speculatively."""

    time_s: float
    """Audio time of the end of the last voiced frame."""
    audio: bytes
    """The utterance so far (pre-roll + speech), without the silence after it."""


@dataclass(frozen=True)
class SpeechResumed:
    """Speech came back before the hangover ran out: a speculative result is stale."""

    time_s: float
    """Audio time at which speech resumed."""


@dataclass(frozen=True)
class SpeechEnded:
    """The utterance is complete."""

    audio: bytes
    """Pre-roll + speech (trailing hangover silence trimmed)."""
    reason: str
    """"silence" (hangover ran out), "max_length" (cut off at the maximum utterance length) or "complete" (the
    session committed early: what was said is already a request the assistant understood)."""
    last_voice_s: float
    """Audio time of the end of the last voiced frame."""
    time_s: float
    """Audio time at which the end was decided."""


@dataclass(frozen=True)
class NoSpeech:
    """Nobody spoke within the no-speech timeout after listening started."""

    time_s: float
    """Audio time at which listening gave up."""
