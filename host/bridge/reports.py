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
    """"answered", "no_speech", "interrupted" (button pressed during the reply), "not_wearer" (another voice than
    the enrolled wearer's: ignored before recognition) or "error"."""
    timings: TurnTimings = field(default_factory=TurnTimings)
    """Where the time went."""
    wake: WakeDetected | None = None
    """The wake-word detection that started the turn (None for the button or a repeat)."""


@dataclass
class EarbudStatus:
    """One earbud as `earpiece status` shows it: from the running bridge (`via="bridge"`, with its counters) or from
    the earbud directly (`via="earbud"`: no bridge runs, so nothing on this computer receives its audio)."""

    name: str
    address: str
    connected: bool
    quiet: bool
    """Quiet as the host's quiet controller holds it (from the earbud itself when asked directly)."""
    quiet_source: str
    """"switch", "host" or "voice"."""
    via: str
    earbud_quiet: bool | None = None
    """What the earbud last said about its own quiet state (None: not heard yet)."""
    battery: int | None = None
    charging: bool | None = None
    codec: str | None = None
    volume: int | None = None
    firmware: str | None = None
    mtu: int | None = None
    state: str | None = None
    """The conversation: "idle", "listening", "replying" or "quiet" (bridge only)."""
    audio_frames_received: int = 0
    """Audio notifications from the earbud."""
    frames_processed: int = 0
    """Chunks of audio the pipeline got."""
    frames_dropped_quiet: int = 0
    """Frames (or chunks decoded just before quiet began) dropped unprocessed in quiet."""
    wake_detections: int = 0
    wake_rejected: int = 0
    """Wake-word detections the verification rejected ([wake] verify): they started no turn."""
    asr_runs: int = 0
    wake_shed_blocks: int = 0
    """80 ms blocks not listened to for the wake word because the bridge was over capacity (newest earbuds first)."""
    not_wearer: int = 0
    """Utterances ignored before recognition: not the enrolled wearer's voice ([listen] wearer_only)."""
    link: dict = field(default_factory=dict)
    downlink: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class QuietOutcome:
    """The result of asking one earbud to enter or leave quiet."""

    name: str
    address: str
    quiet: bool
    quiet_source: str
    ok: bool = True
    error: str | None = None
    pending: bool = False
    """Not connected: the state is recorded and applied when it reconnects."""
    saved: bool = True
    """False when the record could not be written (a full disk): quiet holds until the bridge stops."""

    def to_json(self) -> dict:
        return dict(self.__dict__)
