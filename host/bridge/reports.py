"""What the bridge reports: a finished turn, and an earbud's status and counters (for `earpiece status` and logs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from host.assistant.reply import Reply
from host.pipeline.messages import WakeDetected


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
