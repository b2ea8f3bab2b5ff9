"""One earbud as a Home Assistant satellite: what it says to Home Assistant, and what it does with what it is told.

    Home Assistant                                   the earbud (through its DeviceSession)
      describe ───────────────► info (satellite: name, area, has_vad, active wake words)
      ping ───────────────────► pong
      run-satellite ─────────► may stream (unless paused, or quiet)
                                ◄── local wake word, once verified ([wake] verify): detection, run-pipeline
                                    (asr → tts), the wake cue in the ear, audio-start,
                                    audio-chunk (16 kHz mic audio, live) …, audio-stop (our endpointer heard the
                                    end; or Home Assistant's transcript came first)
      transcript, synthesize ─► logged only with [privacy] store_transcripts
      audio-start/chunk/stop ─► played in the ear (a reply or an announcement) ──► played
      timer-started/updated/cancelled/finished ─► kept; a finished timer rings in the ear
      pause-satellite ────────► no audio to Home Assistant (the wake word answers locally again)

Quiet is stronger than Home Assistant: while the earbud is quiet no audio goes to Home Assistant whatever it asks,
`run-satellite` does not lift it, and the `info` lists no active wake words (Home Assistant's "muted").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Info, Satellite, WakeModel, WakeProgram
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.snd import Played
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated
from wyoming.tts import Synthesize
from wyoming.wake import Detection

from host.assistant.skills.timer import ring_text
from host.bridge.speech_out import Playback
from host.config import Config
from host.pipeline.endpoint import Endpointer
from host.pipeline.messages import SAMPLE_RATE, NoSpeech, SpeechEnded, WakeDetected
from host.pipeline.wake_verify import WINDOW_AFTER_S
from host.wyoming.connection import SatelliteConnection
from host.wyoming.ear import EarStream, ear_played
from host.wyoming.wake_gate import Verify, WakeGate

log = logging.getLogger(__name__)

HOME_ASSISTANT_FAILED = "Sorry, Home Assistant could not answer that."

ATTRIBUTION = Attribution(name="Earpiece", url="https://github.com/earpiece/earpiece")


class EarbudSatellite:
    """The satellite state of one earbud. `take_turn`, `hear` and `quiet_changed` are the session's hooks; `handle`
    is every event its clients send."""

    def __init__(self, name: str, config: Config, playback: Playback, speak: Callable[[str], None],
                 is_quiet: Callable[[], bool], cue: Callable[[], Awaitable[None]] | None = None,
                 verify: Verify | None = None, heard: Callable[[WakeDetected], tuple[bytes, bytes]] | None = None):
        """`cue` plays the wake cue; `verify` and `heard` (the session's wake window: the audio before the detection
        and after it so far) check a detection before it goes to Home Assistant (host/wyoming/wake_gate.py)."""
        self.name = name
        self.config = config
        self._playback = playback
        self._speak = speak  # says a text in the ear (the session's voice)
        self._is_quiet = is_quiet
        self._cue = cue
        self._verify = verify if heard is not None else None
        self._heard = heard
        self._gate: WakeGate | None = None  # a detection being verified, its audio held
        self.wake_word = Path(config.wake.model).stem if config.wake.model.endswith(".onnx") else config.wake.model
        self.connections: set[SatelliteConnection] = set()
        self._peer: SatelliteConnection | None = None  # the client that ran the satellite (Home Assistant)
        self._running = False
        self._endpointer: Endpointer | None = None  # set while the earbud's speech streams to the peer
        self._streamed_ms = 0
        self._ear: EarStream | None = None
        self._awaiting_answer = False  # a request went to Home Assistant and no audio has come back yet
        self._waiting: set = set()  # tasks waiting for the earbud to play Home Assistant's audio out
        self.timers: dict[str, str] = {}  # Home Assistant's running timers: id -> name
        self.stats = dict.fromkeys(("turns", "audio_chunks_sent", "played", "timers_rung"), 0)

    # ---- state --------------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Home Assistant asked for pipelines (run-satellite) and has not paused us; quiet aside."""
        return self._running and self._peer is not None and not self._peer.closed

    @property
    def streaming(self) -> bool:
        return self._endpointer is not None

    def info(self) -> Info:
        quiet = self._is_quiet()
        phrase = self.wake_word.replace("_", " ").title()
        return Info(
            satellite=Satellite(
                name=self.name, attribution=ATTRIBUTION, installed=True,
                description=f"Earpiece earbud {self.name}", version=_version(),
                area=self.config.wyoming.area or None, has_vad=True,
                active_wake_words=[] if quiet else [self.wake_word], max_active_wake_words=1, supports_trigger=False),
            wake=[WakeProgram(
                name="openwakeword", attribution=ATTRIBUTION, installed=True, description="local wake word",
                version=None, models=[WakeModel(name=self.wake_word, attribution=ATTRIBUTION, installed=True,
                                                description=phrase, version=None, languages=["en"],
                                                phrase=phrase)])],
        )

    # ---- clients ------------------------------------------------------------------------------------------------

    def connected(self, connection: SatelliteConnection) -> None:
        self.connections.add(connection)
        log.info("%s: Wyoming client %s connected", self.name, connection.peer)

    def disconnected(self, connection: SatelliteConnection) -> None:
        self.connections.discard(connection)
        if connection is self._peer:
            self._end_stream(send_stop=False)
            self._drop_gate()
            self._peer, self._running = None, False
            log.info("%s: Home Assistant (%s) disconnected", self.name, connection.peer)

    async def handle(self, connection: SatelliteConnection, event: Event) -> None:
        """One event from a client. A malformed event of a known type disconnects that client (one log line)."""
        try:
            self._handle(connection, event)
        except Exception as error:  # noqa: BLE001 — fields of the wrong kind or range (a width of 5, a rate of 0)
            connection.fail(f"malformed {event.type} event ({type(error).__name__}: {str(error)[:60]})")

    def _handle(self, connection: SatelliteConnection, event: Event) -> None:
        kind = event.type
        if kind == "describe":
            connection.send(self.info().event())
        elif Ping.is_type(kind):
            connection.send(Pong(text=Ping.from_event(event).text).event())
        elif kind == "run-satellite":
            if connection is not self._peer:
                self._end_stream(send_stop=True)  # a new Home Assistant connection takes over
            self._peer, self._running = connection, True
            log.info("%s: Home Assistant (%s) runs the satellite%s", self.name, connection.peer,
                     " (the earbud is quiet: nothing is sent until quiet ends)" if self._is_quiet() else "")
        elif kind == "pause-satellite":
            if connection is self._peer:
                self._running = False
                self._end_stream(send_stop=False)  # not one more chunk
                self._drop_gate()
                log.info("%s: Home Assistant paused the satellite", self.name)
        elif Transcript.is_type(kind):
            text = Transcript.from_event(event).text
            if self.config.privacy.store_transcripts:
                log.info("%s: Home Assistant heard %r", self.name, text)
            self._end_stream(send_stop=True)
        elif Synthesize.is_type(kind):
            if self.config.privacy.store_transcripts:
                log.info("%s: Home Assistant says %r", self.name, Synthesize.from_event(event).text)
        elif AudioStart.is_type(kind):
            self._awaiting_answer = False
            if self._ear is not None:  # a new stream before the last one's end: that one ends here
                self._ear.end()
            self._ear = EarStream(self._playback, AudioStart.from_event(event), self.name)
        elif AudioChunk.is_type(kind):
            if self._ear is not None:
                self._ear.chunk(AudioChunk.from_event(event))
        elif AudioStop.is_type(kind):
            if self._ear is not None:
                ear, self._ear = self._ear, None
                ear.end()
                task = ear_played(self._playback, lambda: self._played(connection, ear.seconds))
                self._waiting.add(task)  # a reference, so the task is not collected before it runs
                task.add_done_callback(self._waiting.discard)
        elif Error.is_type(kind):
            error = Error.from_event(event)
            log.warning("%s: Home Assistant: %s (%s)", self.name, error.text, error.code)
            self._end_stream(send_stop=True)
            if self._awaiting_answer:  # the user is waiting for an answer: say it will not come
                self._awaiting_answer = False
                self._speak(HOME_ASSISTANT_FAILED)
        else:
            self._timer(kind, event)

    def _played(self, connection: SatelliteConnection, seconds: float) -> None:
        self.stats["played"] += 1
        log.info("%s: played %.1f s of Home Assistant's audio", self.name, seconds)
        connection.send(Played().event())

    def _timer(self, kind: str, event: Event) -> None:
        if TimerStarted.is_type(kind):
            timer = TimerStarted.from_event(event)
            self.timers[timer.id] = timer.name or ""
            log.info("%s: Home Assistant timer %s started (%d s)", self.name, timer.name or timer.id,
                     timer.total_seconds)
        elif TimerUpdated.is_type(kind):
            timer = TimerUpdated.from_event(event)
            log.info("%s: Home Assistant timer %s %s (%d s)", self.name, timer.id,
                     "running" if timer.is_active else "paused", timer.total_seconds)
        elif TimerCancelled.is_type(kind):
            self.timers.pop(TimerCancelled.from_event(event).id, None)
        elif TimerFinished.is_type(kind):
            name = self.timers.pop(TimerFinished.from_event(event).id, "")
            self.stats["timers_rung"] += 1
            log.info("%s: Home Assistant timer %s rings", self.name, name or "(unnamed)")
            self._speak(ring_text(name) if name else "Your timer is done.")
        else:
            log.debug("%s: ignored Wyoming event %s", self.name, kind)

    # ---- the session's hooks ------------------------------------------------------------------------------------

    def take_turn(self, wake: WakeDetected) -> bool:
        """The local wake word fired: True when Home Assistant takes this turn (once the detection is verified, the
        earbud's speech streams to it), False when the companion answers (no Home Assistant running us, paused, or
        quiet)."""
        if self._is_quiet() or not self.running:
            return False
        self._end_stream(send_stop=True)
        self._drop_gate()
        if self._verify is None:
            self._open_stream()
            return True
        before, after = self._heard(wake)
        self._gate = WakeGate(wake, before, after, WINDOW_AFTER_S, self._verify)
        self._gate.on_verdict = self._verdict
        return True

    def hear(self, pcm: bytes) -> bool:
        """The mic's audio: True when it is Home Assistant's (the session then hears silence)."""
        if self._gate is None and self._endpointer is None:
            return False
        if self._is_quiet() or not self.running:
            self._end_stream(send_stop=False)
            self._drop_gate()
            return True
        if self._gate is not None:
            self._gate.hold(pcm)
        else:
            self._send_chunk(pcm)
        return True

    def quiet_changed(self, quiet: bool) -> None:
        """Quiet began: not one more chunk goes out; the stream in progress ends at once."""
        if quiet:
            self._end_stream(send_stop=True)
            self._drop_gate()
        for connection in list(self.connections):  # their view of active wake words changed
            connection.send(self.info().event())

    def _verdict(self, gate: WakeGate) -> None:
        if gate is not self._gate:
            return
        self._gate = None
        if not gate.verdict:
            log.info("%s: wake word %s rejected by verification: nothing went to Home Assistant", self.name,
                     gate.wake.name)
            return
        if self._is_quiet() or not self.running:
            return
        self._open_stream()
        for pcm in gate.held:  # what was said since the detection, at once
            if self._endpointer is not None:
                self._send_chunk(pcm)

    def _open_stream(self) -> None:
        peer = self._peer
        self.stats["turns"] += 1
        peer.send(Detection(name=self.wake_word, timestamp=int(time.monotonic() * 1000)).event())
        peer.send(RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event())
        peer.send(AudioStart(rate=SAMPLE_RATE, width=2, channels=1, timestamp=0).event())
        s = self.config.endpoint
        self._endpointer = Endpointer(s.vad_aggressiveness, 0.0, s.hangover_s, s.max_utterance_s,
                                      s.no_speech_timeout_s)
        self._endpointer.start()
        self._streamed_ms = 0
        self._awaiting_answer = True
        if self._cue is not None:
            task = asyncio.get_running_loop().create_task(self._play_cue())
            self._waiting.add(task)
            task.add_done_callback(self._waiting.discard)
        log.info("%s: wake word: the request goes to Home Assistant", self.name)

    async def _play_cue(self) -> None:
        try:
            await self._cue()
        except Exception as error:  # noqa: BLE001 — a link hiccup costs the cue, not the turn
            log.info("%s: wake cue not played: %s", self.name, error)

    def _send_chunk(self, pcm: bytes) -> None:
        self._peer.send(AudioChunk(rate=SAMPLE_RATE, width=2, channels=1, audio=pcm,
                                   timestamp=self._streamed_ms).event())
        self.stats["audio_chunks_sent"] += 1
        self._streamed_ms += len(pcm) * 1000 // (2 * SAMPLE_RATE)
        if any(isinstance(e, (SpeechEnded, NoSpeech)) for e in self._endpointer.process(pcm)):
            self._end_stream(send_stop=True)

    def _drop_gate(self) -> None:
        if self._gate is not None:
            self._gate.cancel()
            self._gate = None

    # ---- plumbing -----------------------------------------------------------------------------------------------

    def _end_stream(self, send_stop: bool) -> None:
        if self._endpointer is None:
            return
        self._endpointer = None
        if send_stop and self._peer is not None:
            self._peer.send(AudioStop(timestamp=self._streamed_ms).event())
        log.info("%s: %.1f s of speech streamed to Home Assistant", self.name, self._streamed_ms / 1000)

    def close(self) -> None:
        self._end_stream(send_stop=False)
        self._drop_gate()
        for task in list(self._waiting):
            task.cancel()
        for connection in list(self.connections):
            connection.close()


def _version() -> str | None:
    try:
        from importlib.metadata import version

        return version("earpiece")
    except Exception:  # noqa: BLE001 — a version is nice to have, never a reason to fail
        return None
