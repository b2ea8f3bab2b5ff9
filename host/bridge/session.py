"""One connected earbud's conversation: wake word -> listen -> understand -> answer, and everything around it.

`DeviceSession` does no I/O of its own. The link feeds it decoded 16 kHz PCM (`feed_audio`) and the earbud's
control messages (`handle_event`); it answers through two injected coroutines: `send_control(msg)` for
protocol.control messages (cues, quiet, stop playback) and `play_audio(pcm)` for reply speech as 16 kHz PCM,
which the link encodes and paces against the earbud's speaker reports.

Rules it keeps:
- It does not hear itself: from the end of an utterance until the reply has played (plus `[audio] reply_tail_s`)
  the wake word and the recognizer hear silence instead of the mic. Playback time is counted on the mic's audio
  clock (samples fed), so the rule holds whether audio arrives in real time or faster.
- Button: press while a reply plays stops it (StopPlayback); press otherwise = talk without the wake word (press
  again while listening to cancel); double press repeats the last reply; long press is pairing (the earbud's).
- Latency: with a non-streaming recognizer the utterance is recognized, answered and its first sentence
  synthesized during the endpoint hangover (speculatively: side effects wait until the turn is committed); if
  speech resumes the speculation is thrown away. When the speculative answer shows a complete request (a skill
  understood it), the turn commits after two thirds of the hangover; the listen-end cue never delays the reply.
- Timers ring unprompted: the session can speak without being asked (`say`).
- A failing turn costs that turn (an error cue), never the session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from host.assistant import Assistant, Context
from host.assistant.skills.timer import ring_text
from host.pipeline.engines import Engines
from host.assistant.reply import EnterQuiet, Reply, StartTimer
from host.bridge.reports import TurnResult, TurnTimings
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
from protocol import control

log = logging.getLogger(__name__)

SendControl = Callable[[object], Awaitable[None]]
PlayAudio = Callable[[bytes], Awaitable[None]]

NOTHING_TO_REPEAT = "I haven't said anything yet."
EARLY_END_FRACTION = 2 / 3  # of the hangover: enough silence to end a request the assistant understood
WAKE_SETTLE_S = 2.0  # silence a fresh wake-word state hears after quiet, before the mic's audio


def _complete_request(reply: Reply) -> bool:
    """The assistant understood a whole request: a skill answered, and not with a question back."""
    first = (split_sentences(reply.text) or [reply.text])[0].strip()
    return reply.skill not in ("", "fallback") and not first.endswith("?")


@dataclass
class _Prepared:
    """A turn worked out up to its first sentence of audio."""

    transcript: str
    reply: Reply
    first_audio: bytes
    asr_s: float
    assistant_s: float
    tts_s: float


@dataclass
class _Speculation:
    audio_len: int
    task: asyncio.Task


class DeviceSession:
    def __init__(self, engines: Engines, send_control: SendControl, play_audio: PlayAudio, *,
                 assistant: Assistant | None = None, name: str = "earbud",
                 on_turn: Callable[[TurnResult], None] | None = None,
                 end_audio: Callable[[], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self.engines = engines
        self._end_audio = end_audio  # called when a whole reply has been handed over (the link ends its stream)
        self.config = engines.config
        self.name = name
        self._send_control = send_control
        self._play_audio = play_audio
        self._assistant = assistant or Assistant()
        self._on_turn = on_turn
        self._clock = clock
        self._wake = engines.wake_detector()
        self._endpointer = engines.endpointer()
        self._samples = 0  # mic samples fed: the audio clock
        self._quiet = False
        self._wake_settling: asyncio.Task | None = None  # a fresh wake-word state settling after quiet
        self.battery: int | None = None
        self.charging = False
        self._listening_trigger: str | None = None
        self._wake_event: WakeDetected | None = None  # the detection that started the current listening
        self._stream = None  # the streaming recognizer's stream for the utterance in progress
        self._speculation: _Speculation | None = None
        self._last_voice_wall = 0.0
        self._turn_task: asyncio.Task | None = None
        self._speech_tasks: set[asyncio.Task] = set()
        self._timer_tasks: set[asyncio.Task] = set()
        self._background: set[asyncio.Task] = set()
        self._speak_lock = asyncio.Lock()
        # Audio time at which the reply handed over so far ends, and the same on the wall clock (in case the mic
        # stream pauses). -inf: nothing played yet, so not even the reply tail keeps the session deaf at the start.
        self._playback_end = float("-inf")
        self._playback_end_wall = float("-inf")
        self.last_reply: str | None = None
        self.partial_transcript = ""
        self.turns: list[TurnResult] = []
        self.stats = {
            "audio_chunks": 0, "audio_ignored_quiet": 0, "audio_ignored_replying": 0, "malformed_chunks": 0,
            "wake_detections": 0, "listens": 0, "asr_runs": 0, "speculations_used": 0,
            "speculations_discarded": 0, "turns": 0, "no_speech": 0, "interrupted": 0, "timers_started": 0,
            "timers_fired": 0, "errors": 0, "early_ends": 0,
        }

    # ---- state -----------------------------------------------------------------------------------------------

    @property
    def audio_time(self) -> float:
        return self._samples / SAMPLE_RATE

    @property
    def listening(self) -> bool:
        return self._endpointer.listening

    @property
    def quiet(self) -> bool:
        return self._quiet

    @property
    def replying(self) -> bool:
        """A turn is being worked out or spoken, or reply audio is still playing on the earbud."""
        return (self._turn_task is not None and not self._turn_task.done()) or bool(self._speech_tasks) \
            or self._still_playing()

    def _still_playing(self, margin_s: float = 0.0) -> bool:
        """Reply audio is playing, or ended less than `margin_s` ago."""
        # Whichever clock passes the end first wins: the mic's (audio fed faster than real time, in tests and
        # replays) or the wall's (the mic stream paused while the earbud played).
        return (self.audio_time < self._playback_end + margin_s
                and self._clock() < self._playback_end_wall + margin_s)

    @property
    def state(self) -> str:
        if self._quiet:
            return "quiet"
        if self.listening:
            return "listening"
        if self.replying:
            return "replying"
        return "idle"

    # ---- quiet -----------------------------------------------------------------------------------------------

    def set_quiet(self, quiet: bool) -> None:
        """Enter or leave quiet. Quiet means stopped: no wake-word, VAD or ASR work, and nothing heard before it
        is kept — after quiet the session starts from fresh buffers, so old audio can neither wake it nor reach
        the recognizer. (Replies already handed to the earbud, and timers, go on: quiet is about listening.)"""
        quiet = bool(quiet)
        if quiet == self._quiet:
            return
        self._quiet = quiet
        if quiet:
            self._forget_heard()
        else:
            wake = self._wake = self.engines.wake_detector()
            self._endpointer = self.engines.endpointer()
            # A fresh openWakeWord state starts from noise and can spike (DESIGN.md): let it settle on silence,
            # so the first wake word after quiet is heard and nothing else is. Off the event loop (other earbuds'
            # audio keeps moving); the next mic audio waits for it in feed_audio.
            settle = int(WAKE_SETTLE_S * SAMPLE_RATE) * 2
            if _loop_running():
                self._wake_settling = asyncio.get_running_loop().create_task(
                    asyncio.to_thread(wake.process_silence, settle))
            else:
                wake.process_silence(settle)

    def _forget_heard(self) -> None:
        """Drop every buffer holding the user's audio and every piece of work started on it."""
        # Fresh stages (cheap: the models are shared) hold none of the old audio; in quiet nothing is fed to them.
        self._wake = self.engines.wake_detector()
        self._endpointer = self.engines.endpointer()
        self._wake_settling = None  # settling a detector that is now discarded: let it finish unused
        self._listening_trigger = None
        self._wake_event = None
        self._stream = None
        self.partial_transcript = ""
        self._discard_speculation()
        current = asyncio.current_task() if _loop_running() else None
        if self._turn_task is not None and not self._turn_task.done() and self._turn_task is not current:
            # Work on audio from before quiet (recognition, an answer not yet spoken) is not finished after it.
            self._turn_task.cancel()

    # ---- input from the link ---------------------------------------------------------------------------------

    async def feed_audio(self, pcm: bytes) -> None:
        """Decoded mic audio from the earbud: 16 kHz 16-bit mono PCM, any chunk size."""
        self.stats["audio_chunks"] += 1
        if len(pcm) % 2:
            self.stats["malformed_chunks"] += 1
            pcm = pcm[:-1]
        if not pcm:
            return
        if self._quiet:
            # The earbud stops its mic in quiet mode; anything that still arrives is not processed at all.
            self.stats["audio_ignored_quiet"] += 1
            return
        if self._wake_settling is not None:
            settling, self._wake_settling = self._wake_settling, None
            try:
                await settling
            except Exception:  # noqa: BLE001 — the detector may be jumpy for a second; never the session's end
                log.warning("%s: settling the wake-word detector failed", self.name, exc_info=True)
            if self._quiet:  # quiet began again meanwhile
                self.stats["audio_ignored_quiet"] += 1
                return
        self._samples += len(pcm) // 2
        if self.listening:
            self._wake.process_silence(len(pcm))  # the user is talking to us, not saying the wake word
            for event in self._endpointer.process(pcm):
                self._on_endpoint_event(event)
            self._maybe_end_early()
            return
        if self.replying or self._still_playing(self.config.audio.reply_tail_s):
            # Our own reply (and its echo, for the reply tail after it) must not wake us or be recognized: the
            # stages hear silence.
            self.stats["audio_ignored_replying"] += 1
            self._wake.process_silence(len(pcm))
            self._endpointer.process(bytes(len(pcm)))
            return
        detections = self._wake.process(pcm)
        self._endpointer.process(pcm)  # keeps the pre-roll filled
        if detections:
            self.stats["wake_detections"] += 1
            log.info("%s: wake word %s (score %.2f)", self.name, detections[0].name, detections[0].score)
            self._wake_event = detections[0]
            await self._start_listening("wake", after_wake_s=self.audio_time - detections[0].time_s)

    async def handle_event(self, message: object) -> None:
        """A message from the earbud's status characteristic (Button, Status; others are ignored here)."""
        if isinstance(message, control.Status):
            self.battery = None if message.battery == control.BATTERY_UNKNOWN else message.battery
            self.charging = bool(message.charging)
            self.set_quiet(bool(message.quiet))
        elif isinstance(message, control.Button):
            await self._on_button(message.event)

    async def _on_button(self, event: int) -> None:
        if event == control.BUTTON_PRESS:
            if self.replying:
                await self.stop_reply()
            elif self.listening:
                self._endpointer.stop()
                self._listening_trigger = None
                await self._send(control.PlayCue(control.CUE_LISTEN_END))
            elif not self._quiet:
                await self._start_listening("button")
        elif event == control.BUTTON_DOUBLE:
            if self.replying:
                await self.stop_reply()
            self._start_speech(self.last_reply or NOTHING_TO_REPEAT, trigger="repeat")
        # BUTTON_LONG: the earbud enters pairing mode by itself.

    # ---- listening -------------------------------------------------------------------------------------------

    async def _start_listening(self, trigger: str, after_wake_s: float = 0.0) -> None:
        self.stats["listens"] += 1
        if trigger != "wake":
            self._wake_event = None
        self._listening_trigger = trigger
        self._stream = None
        self._speculation = None
        self.partial_transcript = ""
        if trigger == "wake":
            # Pre-roll counted from the frame that fired, not from the end of the chunk that carried it.
            self._endpointer.start(after_wake_s + self.config.endpoint.wake_pre_roll_s, cut_at_pause=True)
        else:
            self._endpointer.start()
        await self._send(control.PlayCue(control.CUE_WAKE))

    def _on_endpoint_event(self, event) -> None:
        asr = self.engines.asr
        if isinstance(event, SpeechStarted):
            if asr.streaming:
                self.stats["asr_runs"] += 1
                self._stream = asr.open_stream()
                self._accept(event.audio)
        elif isinstance(event, SpeechAudio):
            if self._stream is not None:
                self._accept(event.audio)
        elif isinstance(event, SpeechPaused):
            self._last_voice_wall = self._clock()
            if asr.speculative:
                self._discard_speculation()
                task = asyncio.get_running_loop().create_task(self._prepare(event.audio, None))
                self._speculation = _Speculation(len(event.audio), task)
                task.add_done_callback(lambda _task: self._maybe_end_early())
        elif isinstance(event, SpeechResumed):
            self._discard_speculation()
        elif isinstance(event, SpeechEnded):
            if event.reason not in ("silence", "complete"):
                self._last_voice_wall = self._clock()
            trigger, self._listening_trigger = self._listening_trigger or "wake", None
            speculation, self._speculation = self._speculation, None
            stream, self._stream = self._stream, None
            self._turn_task = asyncio.get_running_loop().create_task(
                self._run_turn(trigger, event, speculation, stream))
        elif isinstance(event, NoSpeech):
            trigger, self._listening_trigger = self._listening_trigger or "wake", None
            self.stats["no_speech"] += 1
            self._record(TurnResult(trigger=trigger, outcome="no_speech", wake=self._take_wake_event(trigger)))
            self._spawn(self._send(control.PlayCue(control.CUE_LISTEN_END)))

    def _maybe_end_early(self) -> None:
        """Commit the utterance before the hangover runs out when the speculative answer shows it is complete.

        Most of a turn's latency is the hangover: the silence that proves the user has finished. When the
        recognizer and the assistant, run on the audio up to the pause, give a confident answer (a skill understood
        it, and not with a question back such as "How long should the timer run?"), a shorter silence is proof
        enough. Requests nothing understood (dictation, long sentences with pauses) still wait the whole hangover."""
        speculation = self._speculation
        if speculation is None or not speculation.task.done() or speculation.task.cancelled() \
                or speculation.task.exception() is not None or not self.listening:
            return
        if self._endpointer.silence_s < self.config.endpoint.hangover_s * EARLY_END_FRACTION:
            return
        if self._endpointer.utterance_bytes != speculation.audio_len:
            return
        if not _complete_request(speculation.task.result().reply):
            return
        event = self._endpointer.end_now()
        if event is not None:
            self.stats["early_ends"] += 1
            self._on_endpoint_event(event)

    def _take_wake_event(self, trigger: str) -> WakeDetected | None:
        event, self._wake_event = self._wake_event, None
        return event if trigger == "wake" else None

    def _accept(self, pcm: bytes) -> None:
        partial = self._stream.accept(pcm)
        if partial is not None:
            self.partial_transcript = partial

    def _discard_speculation(self) -> None:
        if self._speculation is not None:
            self.stats["speculations_discarded"] += 1
            self._speculation.task.cancel()
            self._speculation = None

    # ---- a turn ----------------------------------------------------------------------------------------------

    async def _prepare(self, audio: bytes, stream) -> _Prepared:
        """Recognize, answer and synthesize the first sentence. Pure up to here: no side effects."""
        started = self._clock()
        if stream is not None:
            text = await asyncio.to_thread(stream.finish)
        else:
            self.stats["asr_runs"] += 1
            text = await asyncio.to_thread(self.engines.asr.transcribe, audio)
        recognized = self._clock()
        reply = self._assistant.respond(text, self._context())
        answered = self._clock()
        sentences = split_sentences(reply.text) or [reply.text]
        first_audio = await self.engines.tts.synthesize_async(sentences[0])
        return _Prepared(text, reply, first_audio, recognized - started, answered - recognized,
                         self._clock() - answered)

    async def _run_turn(self, trigger: str, end: SpeechEnded, speculation: _Speculation | None, stream) -> None:
        # The cue goes out without holding up the reply: its write waits for the earbud's acknowledgement (a link
        # round trip), and a reply that is ready must not queue behind it.
        self._spawn(self._send(control.PlayCue(control.CUE_LISTEN_END)))
        ended_wall = self._clock()
        timings = TurnTimings(endpoint_s=max(0.0, ended_wall - self._last_voice_wall))
        result = TurnResult(trigger=trigger, timings=timings, wake=self._take_wake_event(trigger))
        try:
            prepared = None
            if speculation is not None and speculation.audio_len == len(end.audio):
                try:
                    prepared = await speculation.task
                    timings.speculative = True
                    self.stats["speculations_used"] += 1
                except asyncio.CancelledError:
                    if asyncio.current_task().cancelling():
                        raise
                    prepared = None
                except Exception:  # noqa: BLE001 — try once more without speculation
                    log.warning("%s: speculative recognition failed", self.name, exc_info=True)
                    prepared = None
            elif speculation is not None:
                speculation.task.cancel()
                self.stats["speculations_discarded"] += 1
            if prepared is None:
                prepared = await self._prepare(end.audio, stream)
            timings.asr_s, timings.assistant_s = prepared.asr_s, prepared.assistant_s
            timings.tts_first_audio_s = prepared.tts_s
            result.transcript, result.reply = prepared.transcript, prepared.reply
            if self.config.privacy.store_transcripts:
                log.info("%s heard: %r -> %r", self.name, prepared.transcript, prepared.reply.text)
            await self._speak(prepared.reply.text, prepared.first_audio, timings)
            if prepared.reply.remember:
                self.last_reply = prepared.reply.text
            await self._carry_out(prepared.reply)
        except asyncio.CancelledError:
            result.outcome = "interrupted"
            self._record(result)
            raise
        except Exception:  # noqa: BLE001 — one bad turn must not end the session
            log.exception("%s: turn failed", self.name)
            self.stats["errors"] += 1
            result.outcome = "error"
            await self._send(control.PlayCue(control.CUE_ERROR))
        self._record(result)

    def _record(self, result: TurnResult) -> None:
        if result.outcome in ("answered", "error"):
            self.stats["turns"] += 1
        self.turns.append(result)
        if self._on_turn:
            self._on_turn(result)

    def _context(self) -> Context:
        return Context(last_reply=self.last_reply, battery=self.battery, charging=self.charging)

    async def _carry_out(self, reply: Reply) -> None:
        for action in reply.actions:
            if isinstance(action, EnterQuiet):
                await self._send(control.SetQuiet(True, control.QUIET_SOURCE_VOICE))
            elif isinstance(action, StartTimer):
                self.stats["timers_started"] += 1
                task = asyncio.get_running_loop().create_task(self._timer(action.seconds, action.label))
                self._timer_tasks.add(task)
                task.add_done_callback(self._timer_tasks.discard)

    async def _timer(self, seconds: float, label: str) -> None:
        await asyncio.sleep(seconds)
        self.stats["timers_fired"] += 1
        self._start_speech(ring_text(label), trigger="timer")

    # ---- speaking --------------------------------------------------------------------------------------------

    async def say(self, text: str) -> None:
        """Speak unprompted (a timer ringing, a notice from the bridge). Returns once the audio is handed over."""
        await self._speak(text)

    def _start_speech(self, text: str, trigger: str) -> None:
        task = asyncio.get_running_loop().create_task(self._speak(text))
        self._speech_tasks.add(task)
        task.add_done_callback(self._speech_tasks.discard)
        log.debug("%s: speaking (%s)", self.name, trigger)

    async def _speak(self, text: str, first_audio: bytes | None = None, timings: TurnTimings | None = None) -> None:
        """Synthesize sentence by sentence and hand each over as soon as it is ready (first audio leaves early)."""
        tts = self.engines.tts
        sentences = split_sentences(text) or [text]
        async with self._speak_lock:
            upcoming = None
            try:
                for index, sentence in enumerate(sentences):
                    if upcoming is not None:
                        pcm = await upcoming
                    elif index == 0 and first_audio is not None:
                        pcm = first_audio
                    else:
                        pcm = await tts.synthesize_async(sentence)
                    # Synthesize the next sentence while this one is handed over (the link may pace us).
                    upcoming = (asyncio.ensure_future(tts.synthesize_async(sentences[index + 1]))
                                if index + 1 < len(sentences) else None)
                    await self._play(pcm)
                    if index == 0 and timings is not None:
                        timings.latency_s = self._clock() - self._last_voice_wall
            finally:
                if upcoming is not None:
                    upcoming.cancel()
            if self._end_audio is not None:
                await self._end_audio()
            if timings is not None:
                timings.total_s = self._clock() - self._last_voice_wall

    async def _play(self, pcm: bytes) -> None:
        duration = len(pcm) / 2 / SAMPLE_RATE
        if not self._still_playing():
            self._playback_end, self._playback_end_wall = self.audio_time, self._clock()
        self._playback_end += duration
        self._playback_end_wall += duration
        await self._play_audio(pcm)

    async def stop_reply(self) -> None:
        """Stop whatever the companion is saying (the button was pressed)."""
        self.stats["interrupted"] += 1
        tasks = [t for t in [self._turn_task, *self._speech_tasks] if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Playback ends now; the reply tail (its echo) still follows it.
        self._playback_end, self._playback_end_wall = self.audio_time, self._clock()
        await self._send(control.StopPlayback())

    # ---- plumbing --------------------------------------------------------------------------------------------

    def _spawn(self, coro) -> None:
        """Run `coro` in the background, without holding up the caller."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)  # a reference, so the task is not collected before it runs
        task.add_done_callback(self._background.discard)

    async def _send(self, message: object) -> None:
        try:
            await self._send_control(message)
        except Exception:  # noqa: BLE001 — a link hiccup must not end the conversation
            self.stats["errors"] += 1
            log.warning("%s: could not send %r", self.name, message, exc_info=True)

    async def wait_idle(self) -> None:
        """Wait until no turn or speech is in progress (timers may still be running)."""
        while True:
            pending = [t for t in [self._turn_task, *self._speech_tasks] if t is not None and not t.done()]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        """Cancel everything this session started (the earbud disconnected)."""
        tasks = [t for t in [self._turn_task, *self._speech_tasks, *self._timer_tasks, *self._background]
                 if t is not None and not t.done()]
        if self._speculation is not None:
            tasks.append(self._speculation.task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True

