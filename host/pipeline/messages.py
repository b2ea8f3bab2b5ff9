"""What the pipeline stages hand each other: tiny dataclasses, one per event (in the style of rhasspy/wyoming).

Times are seconds of microphone audio since the stage started (the audio clock), so a stage behaves the same fed
in real time or faster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Transcript:
    """What the recognizer heard in one utterance."""

    text: str
    """The words, as the engine wrote them ("" when nothing was understood)."""
    is_final: bool = True
    """False for a streaming engine's partial result."""


@dataclass(frozen=True)
class Action:
    """Something the assistant wants done besides speaking (base class)."""


@dataclass(frozen=True)
class EnterQuiet(Action):
    """Enter quiet mode (stop all listening); the request came from the user's voice."""


@dataclass(frozen=True)
class StartTimer(Action):
    """Start a timer; when it rings the companion speaks up unprompted."""

    seconds: float
    """How long the timer runs."""
    label: str
    """How to call it when it rings, e.g. "five minute"."""


@dataclass(frozen=True)
class Reply:
    """The assistant's answer to one utterance."""

    text: str
    """What to say (may be several sentences; spoken sentence by sentence)."""
    actions: tuple[Action, ...] = ()
    """Side effects to carry out once the turn is committed (never during speculation)."""
    skill: str = ""
    """Which skill answered ("fallback" when nothing understood)."""
    remember: bool = True
    """Whether "repeat that" should repeat this reply."""


@dataclass(frozen=True)
class SynthesizedAudio:
    """Speech from the TTS engine, already at SAMPLE_RATE."""

    pcm: bytes
    """16-bit mono PCM at 16 kHz."""
    sentence: str
    """The sentence it says."""

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / SAMPLE_RATE


@dataclass
class TurnTimings:
    """Where one turn's time went (wall-clock seconds)."""

    endpoint_s: float = 0.0
    """From the last voiced sample arriving to the endpointer deciding the utterance ended (the hangover)."""
    asr_s: float = 0.0
    """Time the recognizer took for the final result."""
    assistant_s: float = 0.0
    """Time the assistant took to answer."""
    tts_first_audio_s: float = 0.0
    """Time to synthesize the first sentence."""
    latency_s: float = 0.0
    """From the last voiced sample arriving to the first reply audio being handed to the earbud."""
    total_s: float = 0.0
    """From the last voiced sample arriving to the whole reply being handed over."""
    speculative: bool = False
    """Whether the result computed during the hangover was used."""


@dataclass
class TurnResult:
    """One finished (or abandoned) turn of conversation."""

    trigger: str
    """"wake" (wake word), "button" (pressed to talk) or "repeat" (double press)."""
    transcript: str = ""
    """What was heard ("" if nothing, or if transcripts are not to be stored and the caller asked so)."""
    reply: Reply | None = None
    """What the assistant answered (None when the turn ended without one)."""
    outcome: str = "answered"
    """"answered", "no_speech", "interrupted" (button pressed during the reply) or "error"."""
    timings: TurnTimings = field(default_factory=TurnTimings)
    """Where the time went."""
    wake: WakeDetected | None = None
    """The wake-word detection that started the turn (None for the button or a repeat)."""
