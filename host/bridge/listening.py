"""Listening: one earbud's wake word and endpointing on one audio clock, and recognition started early.

`Listening` owns the stages that hear the user (wake-word detector, endpointer, a streaming recognizer's stream)
and the audio clock they share. The session feeds it the mic's audio and tells it when to start listening; it
reports back through two callbacks: `on_utterance(Utterance)` when a request has been spoken, `on_no_speech()` when
nobody spoke.

Latency: with a non-streaming recognizer the utterance is recognized, answered and its first sentence synthesized
during the endpoint hangover (`prepare`, speculatively: side effects wait until the turn is committed); if speech
resumes the speculation is thrown away. When the speculative answer shows a complete request (a skill understood
it, and not with a question back), the utterance ends after two thirds of the hangover.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from host.assistant.reply import Reply
from host.bridge.model_reply import ModelReply
from host.pipeline.clock import AudioClock
from host.pipeline.endpoint import FRAME_MS
from host.pipeline.engines import Engines
from host.pipeline.messages import (
    SAMPLE_RATE,
    NoSpeech,
    SpeechAudio,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    WakeDetected,
)
from host.pipeline.tts import split_sentences
from host.pipeline.wake_verify import WakeWindow

log = logging.getLogger(__name__)

EARLY_END_FRACTION = 2 / 3  # of the hangover: enough silence to end a request the assistant understood
WAKE_SETTLE_S = 2.0  # silence a fresh wake-word state hears after quiet, before the mic's audio
PARTIAL_EVERY_S = 0.6  # of speech between partial recognitions (each costs about one short recognition)
PARTIALS = threading.Lock()  # one partial recognition at a time in the bridge: finals and wake words first


@dataclass
class Prepared:
    """A turn worked out up to its first sentence of audio (no side effects yet)."""

    transcript: str
    reply: Reply
    first_audio: bytes
    asr_s: float
    assistant_s: float
    tts_s: float
    model: ModelReply | None = None
    """A conversation model still writing the rest of the reply (its first sentence is `reply.text`)."""
    ask_model: bool = False
    """Prepared speculatively for the conversation model, which is asked only once the turn is committed (its
    prompt cannot be interrupted: speculations thrown away would keep it busy)."""
    not_wearer: bool = False
    """Not the enrolled wearer's voice (host/bridge/wearer_gate.py): nothing was recognized, nothing is answered."""


@dataclass
class Speculation:
    audio_len: int
    task: asyncio.Task

    def discard(self) -> None:
        """Throw the speculative turn away, and stop a conversation model it started."""
        self.task.cancel()
        if self.task.done() and not self.task.cancelled() and self.task.exception() is None:
            model = self.task.result().model
            if model is not None:
                model.cancel()


@dataclass
class Utterance:
    """A request has been spoken: the session turns it into an answer."""

    trigger: str
    end: SpeechEnded
    speculation: Speculation | None
    stream: object | None
    """The streaming recognizer's stream holding this utterance (None for whole-utterance recognizers)."""
    last_voice_wall: float
    """Wall-clock time the last voiced audio was heard (latency is counted from here)."""
    earlier: list[asyncio.Task] = field(default_factory=list)
    """Recognitions of the stretches before this one when speech ran past `max_utterance_s` (dictation): the
    transcript is theirs and this one's, in order."""


Prepare = Callable[..., Awaitable[Prepared]]  # (audio, stream, speculative=...) -> the turn worked out


def complete_request(reply: Reply) -> bool:
    """The assistant understood a whole request: a skill answered, and not with a question back."""
    first = (split_sentences(reply.text) or [reply.text])[0].strip()
    return reply.skill not in ("", "fallback") and not first.endswith("?")


class Listening:
    def __init__(self, engines: Engines, prepare: Prepare, on_utterance: Callable[[Utterance], None],
                 on_no_speech: Callable[[str], None], stats: dict, name: str = "earbud",
                 clock: Callable[[], float] = time.perf_counter):
        self.engines = engines
        self.audio_clock = AudioClock()
        self._prepare = prepare
        self._on_utterance = on_utterance
        self._on_no_speech = on_no_speech
        self.stats = stats
        self.name = name
        self._wall = clock
        self._wake = engines.wake_detector(self.audio_clock)
        self._endpointer = engines.endpointer(self.audio_clock)
        self.noise = engines.noise_suppressor()  # [listen] noise_suppression: in front of every stage that hears
        self.wake_window = WakeWindow(self.audio_clock)  # what the wake word heard: its verification reads it
        self._settling: asyncio.Task | None = None
        self.trigger: str | None = None
        self.wake_event: WakeDetected | None = None  # the detection that started the current listening
        self._stream = None
        self._speculation: Speculation | None = None
        self._last_voice_wall = 0.0
        self._earlier: list[asyncio.Task] = []  # recognitions of the stretches cut at max_utterance_s
        self._turn_check: asyncio.Task | None = None  # the end-of-turn model consulted in this pause
        self._partial: asyncio.Task | None = None
        self._partial_at = 0  # utterance bytes when the last partial was started
        self.partial_transcript = ""
        self.on_partial: Callable[[str], None] | None = None  # each new partial transcript (logs, the demo)
        self.wearer = None  # host.bridge.wearer_gate.WearerGate: partial transcripts of the wearer's voice only

    @property
    def listening(self) -> bool:
        return self._endpointer.listening

    @property
    def audio_time(self) -> float:
        return self.audio_clock.time_s

    @property
    def wake_detector(self):
        """The wake-word stage now in use (a fresh one after quiet); the capacity bench reads its scoring log."""
        return self._wake

    # ---- fresh stages: quiet mode --------------------------------------------------------------------------------

    def forget(self) -> None:
        """Drop every buffer holding the user's audio and all work started on it (quiet began)."""
        # Fresh stages (cheap: the models are shared) hold none of the old audio; the clock goes on.
        self._wake = self.engines.wake_detector(self.audio_clock)
        self._endpointer = self.engines.endpointer(self.audio_clock)
        self.noise.reset()
        self.wake_window.clear()
        self._settling = None  # settling a detector that is now discarded: let it finish unused
        self.trigger = None
        self.wake_event = None
        self._stream = None
        self.partial_transcript = ""
        self.discard_speculation()
        for task in [*self._earlier, self._turn_check, self._partial]:
            if task is not None:
                task.cancel()
        self._earlier, self._turn_check, self._partial = [], None, None

    def settle(self) -> None:
        """Start fresh stages that first hear silence (quiet ended). A fresh openWakeWord state starts from noise and
        can spike (DESIGN.md): it settles on silence, off the event loop; the next mic audio waits for it."""
        self.forget()
        wake, settle = self._wake, int(WAKE_SETTLE_S * SAMPLE_RATE) * 2
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            wake.process_silence(settle)
            return
        self._settling = loop.create_task(asyncio.to_thread(wake.process_silence, settle))

    async def wait_settled(self) -> None:
        if self._settling is not None:
            settling, self._settling = self._settling, None
            try:
                await settling
            except Exception:  # noqa: BLE001 — the detector may be jumpy for a second; never the session's end
                log.warning("%s: settling the wake-word detector failed", self.name, exc_info=True)

    # ---- hearing -------------------------------------------------------------------------------------------------

    def hear(self, pcm: bytes, wake_threshold: float | None = None) -> WakeDetected | None:
        """The mic's audio, while nobody is being answered. Returns a wake-word detection that should start a turn
        (`wake_threshold`: a lower threshold for this audio, a reply's cancelled echo under it)."""
        pcm = self.noise.suppress(pcm)  # as long as it came: the clock and the stages stay in step
        self._wake.threshold_now = wake_threshold
        self.audio_clock.advance(len(pcm))
        self.wake_window.add(pcm)
        if self.listening:
            self._wake.process_silence(len(pcm))  # the user is talking to us, not saying the wake word
            for event in self._endpointer.process(pcm):
                self._on_endpoint_event(event)
            self._listen_on()
            return None
        detections = self._wake.process(pcm)
        self._endpointer.process(pcm)  # keeps the pre-roll filled
        return detections[0] if detections else None

    def hear_silence(self, n_bytes: int) -> None:
        """Audio the stages must not hear (our own reply and its echo): they hear silence instead."""
        self.audio_clock.advance(n_bytes)
        self.wake_window.add(bytes(n_bytes))
        self._wake.process_silence(n_bytes)
        self._endpointer.process(bytes(n_bytes))

    def start(self, trigger: str, wake: WakeDetected | None = None, no_speech_s: float | None = None) -> None:
        """Listen for a request (`no_speech_s`: give up sooner or later than `[endpoint] no_speech_timeout_s`)."""
        self.trigger = trigger
        self.wake_event = wake
        self._stream = None
        self._speculation = None
        self._earlier, self._turn_check, self._partial_at = [], None, 0
        self.partial_transcript = ""
        if wake is not None:
            # Pre-roll counted from the frame that fired, not from the end of the chunk that carried it.
            after_wake_s = max(0.0, self.audio_time - wake.time_s)
            self._endpointer.start(after_wake_s + self.engines.config.endpoint.wake_pre_roll_s, cut_at_pause=True,
                                   no_speech_s=no_speech_s)
        else:
            self._endpointer.start(no_speech_s=no_speech_s)

    def cancel(self) -> None:
        """Stop listening without a turn (the button was pressed again)."""
        self._endpointer.stop()
        self.trigger = None

    def take_wake_event(self, trigger: str) -> WakeDetected | None:
        event, self.wake_event = self.wake_event, None
        return event if trigger == "wake" else None

    # ---- the utterance -------------------------------------------------------------------------------------------

    def _on_endpoint_event(self, event) -> None:
        asr = self.engines.asr
        if isinstance(event, SpeechStarted):
            if asr.streaming and not (self.wearer is not None and self.wearer.active):  # no stranger streams
                self.stats["asr_runs"] += 1
                self._stream = asr.open_stream()
                self._accept(event.audio)
        elif isinstance(event, SpeechAudio):
            if self._stream is not None:
                self._accept(event.audio)
        elif isinstance(event, SpeechPaused):
            self._last_voice_wall = self._wall()
            if asr.speculative:
                self.discard_speculation()
                task = asyncio.get_running_loop().create_task(self._prepare(event.audio, None, speculative=True))
                self._speculation = Speculation(len(event.audio), task)
                task.add_done_callback(lambda _task: self._maybe_end_early())
        elif isinstance(event, SpeechResumed):
            self.discard_speculation()
            self._turn_check = None
        elif isinstance(event, SpeechEnded) and event.reason == "max_length" and not asr.streaming:
            # Still talking (dictation): nothing is lost. This stretch is recognized now, and listening goes on
            # at once; the turn's transcript is all the stretches.
            self._earlier.append(asyncio.get_running_loop().create_task(self._recognize_stretch(event.audio)))
            self.discard_speculation()
            # If they had in fact just finished, silence as long as the hangover ends the request (NoSpeech below).
            self._endpointer.start(0.0, no_speech_s=self._endpointer.hangover_frames * FRAME_MS / 1000)
            self._partial_at = 0
            self.stats["continued"] += 1
        elif isinstance(event, SpeechEnded):
            if event.reason not in ("silence", "complete"):
                self._last_voice_wall = self._wall()
            trigger, self.trigger = self.trigger or "wake", None
            speculation, self._speculation = self._speculation, None
            stream, self._stream = self._stream, None
            earlier, self._earlier = self._earlier, []
            if earlier and speculation is not None:  # the speculation heard only the last stretch
                speculation.discard()
                speculation = None
            self._on_utterance(Utterance(trigger, event, speculation, stream, self._last_voice_wall, earlier))
        elif isinstance(event, NoSpeech) and self._earlier:
            # Speech that ran past the maximum, then stopped: the request is the stretches heard so far.
            end = SpeechEnded(b"", "silence", event.time_s, event.time_s)
            trigger, self.trigger = self.trigger or "wake", None
            earlier, self._earlier = self._earlier, []
            self._on_utterance(Utterance(trigger, end, None, None, self._last_voice_wall, earlier))
        elif isinstance(event, NoSpeech):
            trigger, self.trigger = self.trigger or "wake", None
            self._on_no_speech(trigger)

    async def _recognize_stretch(self, audio: bytes) -> str:
        """A stretch cut at max_utterance_s, recognized now: only the wearer's voice, once they have enrolled."""
        if self.wearer is not None and not await self.wearer.admits(audio):
            return ""
        return await asyncio.to_thread(self.engines.asr.transcribe, audio)

    def _listen_on(self) -> None:
        """Per chunk while listening: end early when the request is complete, and recognize while they speak."""
        self._maybe_end_early()
        if self.listening:
            self._maybe_ask_turn_model()
            self._maybe_recognize_partial()

    def _maybe_ask_turn_model(self) -> None:
        """Once per pause, after `[end_of_turn] ask_after_s` of silence, ask the end-of-turn model whether the
        request sounds finished; if it does, the turn ends now (otherwise silence ends it, patiently)."""
        model, settings = self.engines.turn_completion, self.engines.config.end_of_turn
        if model is None or self._turn_check is not None or self._endpointer.silence_s < settings.ask_after_s:
            return
        pause = self._endpointer.utterance_bytes
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(model.probability, self._endpointer.utterance_with_pause))
        task.add_done_callback(lambda done: self._turn_judged(done, pause))
        self._turn_check = task

    def _turn_judged(self, task: asyncio.Task, pause: int) -> None:
        if task.cancelled() or task.exception() is not None or not self.listening:
            return
        if self._endpointer.utterance_bytes != pause or self._endpointer.silence_s == 0:
            return  # they spoke on meanwhile
        if task.result() >= self.engines.config.end_of_turn.threshold:
            event = self._endpointer.end_now()
            if event is not None:
                self.stats["end_of_turn_model_ends"] += 1
                self._on_endpoint_event(event)

    def _maybe_recognize_partial(self) -> None:
        """Recognize the growing utterance every PARTIAL_EVERY_S of speech, one recognition at a time across the
        whole bridge (PARTIALS: never at the cost of other earbuds' wake words), for the partial transcript."""
        asr = self.engines.asr
        audio_len = self._endpointer.utterance_bytes
        if asr.streaming or not self.on_partial or self._partial is not None and not self._partial.done():
            return
        if self._speculation is not None or self._endpointer.silence_s > 0:
            return  # in a pause the speculative recognition runs: it comes first
        if audio_len - self._partial_at < PARTIAL_EVERY_S * SAMPLE_RATE * 2 or not PARTIALS.acquire(blocking=False):
            return
        self._partial_at = audio_len
        audio = self._endpointer.utterance_with_pause

        async def recognize() -> None:
            try:
                if self.wearer is not None and not await self.wearer.admits(audio):
                    return
                text = await asyncio.to_thread(asr.transcribe, audio)
            finally:
                PARTIALS.release()
            if text and self.listening and text != self.partial_transcript:
                self.partial_transcript = text
                self.on_partial(text)

        self._partial = asyncio.get_running_loop().create_task(recognize())

    def _maybe_end_early(self) -> None:
        """End the utterance before the hangover runs out when the speculative answer shows it is complete.

        Most of a turn's latency is the hangover: the silence that proves the user has finished. When the recognizer
        and the assistant, run on the audio up to the pause, give a confident answer, a shorter silence is proof
        enough. Requests nothing understood (dictation, long sentences with pauses) still wait the whole hangover."""
        speculation = self._speculation
        if speculation is None or not speculation.task.done() or speculation.task.cancelled() \
                or speculation.task.exception() is not None or not self.listening:
            return
        if self._endpointer.silence_s < self.engines.config.endpoint.hangover_s * EARLY_END_FRACTION:
            return
        if self._endpointer.utterance_bytes != speculation.audio_len:
            return
        if not complete_request(speculation.task.result().reply):
            return
        event = self._endpointer.end_now()
        if event is not None:
            self.stats["early_ends"] += 1
            self._on_endpoint_event(event)

    def _accept(self, pcm: bytes) -> None:
        partial = self._stream.accept(pcm)
        if partial is not None and partial != self.partial_transcript:
            self.partial_transcript = partial
            if self.on_partial is not None:
                self.on_partial(partial)

    def discard_speculation(self) -> None:
        if self._speculation is not None:
            self.stats["speculations_discarded"] += 1
            self._speculation.discard()
            self._speculation = None

    def pending_tasks(self) -> list[asyncio.Task]:
        tasks = [self._speculation.task] if self._speculation is not None else []
        return tasks + [t for t in [*self._earlier, self._turn_check, self._partial] if t is not None]
