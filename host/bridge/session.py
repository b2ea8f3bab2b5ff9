"""One connected earbud's conversation: wake word -> listen -> understand -> answer, and the buttons around it.

`DeviceSession` does no I/O of its own and owns no quiet state. The runner feeds it decoded 16 kHz PCM
(`feed_audio`) and the earbud's messages (`handle_event`), and tells it when quiet begins or ends
(`quiet_changed`; whether quiet holds is read from `is_quiet`, the quiet controller's answer). It answers through
`send_control(msg)` (cues, quiet requests, stop playback) and a `Playback` for reply speech.

The parts: `Listening` (wake word, endpointing, early recognition, one audio clock), `TurnRunner` (one turn, from the
utterance to its reply spoken), `Voice` (speech out, sentence by sentence, with the playback's estimate of when it
ends), `Timers`. Here: turn-taking between them.

Rules it keeps:
- It does not hear itself: while a reply is being worked out or plays, and for `[audio] reply_tail_s` after it
  (its echo), the wake word and the recognizer hear silence — unless the runner cancels that echo ([listen]
  echo_cancel, on by default) and the cancellers have learned the room: then it hears on, and a stop word or the
  wake word interrupts the reply.
- Button: press while a reply plays stops it; press otherwise = talk without the wake word (press again while
  listening to cancel); double press repeats the last reply; long press is pairing (the earbud's own).
- A failing turn costs that turn (an error cue), never the session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from host.assistant.reply import EnterQuiet, StartTimer
from host.bridge.answering import Answering
from host.bridge.listening import Listening, Prepared, Utterance
from host.bridge.reports import TurnResult, TurnTimings
from host.bridge.speech_out import Playback, Voice
from host.bridge.timers import Timers
from host.bridge.turn import TurnRunner
from host.bridge.wake_check import WakeCheck
from host.bridge.wearer_gate import WearerGate
from host.companion import Companion
from host.pipeline.engines import Engines
from host.pipeline.stop_words import StopWords
from protocol import control

log = logging.getLogger(__name__)

SendControl = Callable[[object], Awaitable[None]]

NOTHING_TO_REPEAT = "I haven't said anything yet."
# The follow-up cue comes this long after the reply's last sound: right after it, it sounds like the reply's end
# rather than "your turn". The mic is heard meanwhile (with the echo cancelled) and the listening's pre-roll keeps
# a wearer who answers at once.
FOLLOW_UP_CUE_PAUSE_S = 0.5
STATS = ("model_turns", "follow_ups", "audio_chunks", "audio_ignored_quiet", "audio_ignored_replying", "malformed_chunks", "wake_detections",
         "listens", "asr_runs", "speculations_used", "speculations_discarded", "turns", "no_speech", "interrupted",
         "timers_started", "timers_fired", "errors", "early_ends", "end_of_turn_model_ends", "continued", "partials",
         "not_wearer", "wake_rejected", "stopped_by_voice", "wake_over_reply_unsure",
         "wake_over_reply_recognized")


class DeviceSession:
    def __init__(self, engines: Engines, send_control: SendControl, playback: Playback, *,
                 companion: Companion | None = None, name: str = "earbud",
                 on_turn: Callable[[TurnResult], None] | None = None,
                 on_partial: Callable[[str], None] | None = None,
                 is_quiet: Callable[[], bool] = lambda: False, echo_cancelled: bool = False,
                 clock: Callable[[], float] = time.perf_counter):
        self.engines = engines
        self.config = engines.config
        self.name = name
        self._send_control = send_control
        self._companion = companion
        self._on_turn = on_turn
        self._is_quiet = is_quiet
        self._clock = clock
        self.stats = dict.fromkeys(STATS, 0)
        self.answering = Answering(engines, companion, self.stats, name, clock)
        self.listening_part = Listening(engines, self._prepare, self._on_utterance, self._on_no_speech, self.stats,
                                        name, clock)
        self.voice = Voice(engines.tts, playback, name, clock)
        self.wake_check = WakeCheck(engines, self.listening_part, self._wake_confirmed, self.stats, name)  # [wake] verify
        # A wake word said over a reply and scored under [wake] threshold (but over threshold_over_reply) stops the
        # reply only once verified: the reply's turn it waits to stop (None: nothing waits).
        self._stop_when_confirmed: tuple[asyncio.Task | None] | None = None
        self._on_partial = on_partial
        # Partial transcripts cost recognitions: made only for someone who reads them (the demo, or the log when
        # transcripts may be kept).
        if on_partial is not None or self.config.privacy.store_transcripts:
            self.listening_part.on_partial = self._partial_heard
        self.timers = Timers(lambda text: self.voice.start(text, "timer"), self.stats)
        # With the reply's echo cancelled on the uplink (the runner does it) the session listens while it speaks:
        # a stop word or the wake word interrupts the reply. Without, it is deaf then ([audio] reply_tail_s).
        self.stop_words = StopWords(engines.asr.transcribe, self._stopped_by_voice) if echo_cancelled else None
        if self.stop_words is not None and self.wake_check.verifier is not None:
            # ... and the wake word, heard by the recognizer in what the stop words hear where openWakeWord missed it
            self.stop_words.wake_said = self.wake_check.verifier.said_in
            self.stop_words.on_wake = self._wake_heard_by_recognizer
        # Whether the cancellers still learn the room (the runner's uplink answers): then what they let through is
        # mostly the reply's own echo, and the recognizer once heard a stop word in it (the first reply stopped 1.3 s
        # in, with no one speaking).
        self.cancellers_learning: Callable[[], bool] = lambda: False
        # Once the wearer has enrolled, other voices are dropped before recognition ([listen] wearer_only).
        self.wearer = self.answering.wearer = self.listening_part.wearer = WearerGate(
            name, self.config.listen.wearer_only)
        self.turn_runner = TurnRunner(self.answering, self.voice, self._prepare, stats=self.stats, name=name,
                                      store_transcripts=self.config.privacy.store_transcripts,
                                      stop_words_on=echo_cancelled, spawn=self._spawn)
        self.enrolment = None  # host.bridge.enrolment.Recorder while `earpiece enroll` records: it takes the mic
        self.battery: int | None = None
        self.charging = False
        self._turn_task: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self.last_reply: str | None = None
        self.turns: list[TurnResult] = []
        self.satellite = None  # the earbud as a Home Assistant satellite (host/wyoming), when the bridge serves one
        if is_quiet():
            self.listening_part.forget()

    # ---- state -----------------------------------------------------------------------------------------------

    @property
    def audio_time(self) -> float:
        return self.listening_part.audio_time

    @property
    def listening(self) -> bool:
        return self.listening_part.listening

    @property
    def partial_transcript(self) -> str:
        return self.listening_part.partial_transcript

    @property
    def replying(self) -> bool:
        """A turn is being worked out or spoken, or reply audio is still playing on the earbud."""
        return (self._turn_task is not None and not self._turn_task.done()) or self.voice.speaking

    @property
    def _hears_over_replies(self) -> bool:
        """Whether the reply's echo is cancelled well enough to listen over it: not until the cancellers have learned
        the room (about the first 2 s of reply audio): what they let through before is mostly the reply's own echo."""
        return self.stop_words is not None and not self.cancellers_learning()

    @property
    def _wake_threshold_over_reply(self) -> float | None:
        """The wake word's threshold over a reply: lower, as what is left of its echo lowers the scores, when the
        recognizer verifies detections before they stop it (not for Home Assistant's turns, which are not verified)."""
        if self.wake_check.verifier is None or self.satellite is not None:
            return None
        return self.config.wake.threshold_over_reply

    async def _wake_confirmed(self) -> None:
        """The recognizer heard the wake phrase: the reply it was said over stops, if that waited for this; the cue."""
        waiting, self._stop_when_confirmed = self._stop_when_confirmed, None
        if waiting is not None:
            [turn] = waiting
            if (turn is not None and not turn.done()) or self.voice.speaking:
                await self._stop_reply(turn)  # not the turn of the request after the wake word, if it began
        await self._send(control.PlayCue(control.CUE_WAKE))

    @property
    def _reply_tail_s(self) -> float:
        """How long after a reply the mic stays ignored (its echo's tail), unless its echo is cancelled."""
        return 0.0 if self._hears_over_replies else self.config.audio.reply_tail_s

    @property
    def state(self) -> str:
        if self._is_quiet():
            return "quiet"
        if self.listening:
            return "listening"
        if self.replying:
            return "replying"
        return "idle"

    # ---- quiet -----------------------------------------------------------------------------------------------

    def quiet_changed(self, quiet: bool) -> None:
        """Quiet began or ended (the quiet controller decided). Quiet means stopped: nothing heard before it is kept
        — the stages start afresh, so old audio can neither wake the session nor reach the recognizer — and work on
        audio from before it is not finished after it. (Replies already handed to the earbud, and timers, go on.)"""
        if self.satellite is not None:
            self.satellite.quiet_changed(quiet)  # not one more chunk to Home Assistant
        if not quiet:
            self.listening_part.settle()
            return
        self.listening_part.forget()
        if self.stop_words is not None:
            self.stop_words.reset()  # the stretch being heard over a reply is dropped too
        if self._companion is not None and _loop_running():
            self._spawn(asyncio.to_thread(self._companion.quiet, self.name))
        current = asyncio.current_task() if _loop_running() else None
        if self._turn_task is not None and not self._turn_task.done() and self._turn_task is not current:
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
        await self.listening_part.wait_settled()
        if self._is_quiet():
            # The earbud stops its mic in quiet mode and the link drops what still arrives; a chunk already on its
            # way when quiet began is not processed either.
            self.stats["audio_ignored_quiet"] += 1
            return
        if self.satellite is not None and self.satellite.hear(pcm):  # the request streams to Home Assistant
            self.listening_part.hear_silence(len(pcm))
            return
        turn_running = self._turn_task is not None and not self._turn_task.done()
        if not self.listening and (turn_running or self.voice.heard_recently(self._reply_tail_s)):
            if not self._hears_over_replies:
                # Our own reply (and its echo, for the reply tail after it) must not wake us or be recognized.
                self.stats["audio_ignored_replying"] += 1
                self.listening_part.hear_silence(len(pcm))
                return
            self.stop_words.hear(pcm)  # its echo is cancelled: a stop word interrupts, and so does the wake word
            pcm = self.stop_words.voice_whole(pcm)  # the linear canceller keeps the wearer whole (bench_barge_in)
            wake_threshold = self._wake_threshold_over_reply
        else:
            wake_threshold = None
        if self.enrolment is not None:  # `earpiece enroll` is recording the wearer: no wake word, no turn
            self.enrolment.hear(pcm)
            self.listening_part.hear_silence(len(pcm))
            return
        wake = self.listening_part.hear(pcm, wake_threshold)
        if wake is not None:
            self.stats["wake_detections"] += 1
            log.info("%s: wake word %s (score %.2f)", self.name, wake.name, wake.score)
            self._stop_when_confirmed = None
            if self.stop_words is not None and self.replying:  # the wake word over a reply interrupts it
                if wake.score >= self.config.wake.threshold:
                    await self.stop_reply()
                else:  # a lower score, heard under the reply's echo: the reply stops if the recognizer confirms it
                    self.stats["wake_over_reply_unsure"] += 1
                    self._stop_when_confirmed = (self._turn_task,)
            if self.satellite is not None and self.satellite.take_turn(wake):  # Home Assistant answers (it cues)
                return
            await self._start_listening("wake", wake)

    async def handle_event(self, message: object) -> None:
        """A message from the earbud's status characteristic (Status: battery; Button). Quiet is not read here: the
        runner's quiet controller owns it."""
        if isinstance(message, control.Status):
            self.battery = None if message.battery == control.BATTERY_UNKNOWN else message.battery
            self.charging = bool(message.charging)
        elif isinstance(message, control.Button):
            await self._on_button(message.event)

    async def _on_button(self, event: int) -> None:
        if event == control.BUTTON_PRESS:
            if self.replying:
                await self.stop_reply()
            elif self.listening:
                self.listening_part.cancel()
                await self._send(control.PlayCue(control.CUE_LISTEN_END))
            elif not self._is_quiet():
                await self._start_listening("button")
        elif event == control.BUTTON_DOUBLE:
            if self.replying:
                await self.stop_reply()
            self.voice.start(self.last_reply or NOTHING_TO_REPEAT, "repeat")
        # BUTTON_LONG: the earbud enters pairing mode by itself.

    async def _start_listening(self, trigger: str, wake=None) -> None:
        self.stats["listens"] += 1
        self.listening_part.start(trigger, wake)
        if wake is None or not self.wake_check.begin(wake):  # a wake word's cue waits for its verification
            await self._send(control.PlayCue(control.CUE_WAKE))

    def _partial_heard(self, text: str) -> None:
        """What the recognizer has heard so far of the request in progress."""
        self.stats["partials"] += 1
        if self.config.privacy.store_transcripts:
            log.info("%s hearing: %r", self.name, text)
        if self._on_partial is not None:
            self._on_partial(text)

    def _on_no_speech(self, trigger: str) -> None:
        if trigger == "follow_up":  # the conversation simply ended: nothing to record, no cue
            return
        self.stats["no_speech"] += 1
        self._record(TurnResult(trigger=trigger, outcome="no_speech",
                                wake=self.listening_part.take_wake_event(trigger)))
        self._spawn(self._send(control.PlayCue(control.CUE_LISTEN_END)))

    async def _prepare(self, audio: bytes, stream, earlier: list[asyncio.Task] = (),
                       speculative: bool = False) -> Prepared:
        status = {"last_reply": self.last_reply, "battery": self.battery, "charging": self.charging}
        return await self.answering.prepare(audio, stream, earlier, status, speculative)

    def _on_utterance(self, utterance: Utterance) -> None:
        if self.stop_words is not None:
            self.stop_words.reset()
        self._turn_task = asyncio.get_running_loop().create_task(self.wake_check.then(utterance, self._run_turn))

    # ---- a turn ----------------------------------------------------------------------------------------------

    async def _run_turn(self, utterance: Utterance) -> None:
        # The cue goes out without holding up the reply: its write waits for the earbud's acknowledgement.
        self._spawn(self._send(control.PlayCue(control.CUE_LISTEN_END)))
        timings = TurnTimings(endpoint_s=max(0.0, self._clock() - utterance.last_voice_wall))
        result = TurnResult(trigger=utterance.trigger, timings=timings,
                            wake=self.listening_part.take_wake_event(utterance.trigger))
        try:
            said = await self.turn_runner.run(utterance, result)
            if said is not None:
                reply, actions = said
                if reply.remember:
                    self.last_reply = reply.text
                await self._carry_out(actions)
                self._spawn(self._follow_up())
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

    async def _carry_out(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, EnterQuiet):
                await self._send(control.SetQuiet(True, control.QUIET_SOURCE_VOICE))
            elif isinstance(action, StartTimer):
                self.timers.start(action.seconds, action.label)

    async def _follow_up(self) -> None:
        """After a reply, listen a few seconds for a follow-up without the wake word (`[assistant] follow_up_s`),
        once our own voice has left the mic (the reply and its tail)."""
        seconds = self.config.assistant.follow_up_s
        if seconds <= 0:
            return
        while self.replying or self.voice.heard_recently(max(self._reply_tail_s, FOLLOW_UP_CUE_PAUSE_S)):
            await asyncio.sleep(0.05)
        if self.listening or self._is_quiet():
            return
        self.stats["follow_ups"] += 1
        self.stats["listens"] += 1
        self.listening_part.start("follow_up", no_speech_s=seconds)
        await self._send(control.PlayCue(control.CUE_FOLLOW_UP))

    async def _wake_heard_by_recognizer(self) -> None:
        """The recognizer heard the wake phrase said over the reply, where the wake word's model had not (what is
        left of the echo confuses it more): as a verified wake word, it stops the reply and listening begins."""
        if self.listening or self.satellite is not None or not self.replying or self._is_quiet():
            return  # the wake word's model heard it too, or Home Assistant answers, or the reply is over, or quiet
        self.stats["wake_over_reply_recognized"] += 1
        log.info("%s: wake word heard by the recognizer over the reply", self.name)
        await self.stop_reply()
        self.wake_check.already_verified()
        await self._start_listening("wake")

    async def _stopped_by_voice(self, _text: str) -> None:  # a stop word over the reply (stop_words.py)
        if self.replying and not self.listening:
            self.stats["stopped_by_voice"] += 1
            log.info("%s: reply stopped by voice", self.name)
            await self.stop_reply()

    async def stop_reply(self) -> None:
        """Stop whatever the companion is saying (the button was pressed)."""
        await self._stop_reply(self._turn_task)

    async def _stop_reply(self, turn: asyncio.Task | None) -> None:
        """Stop the reply playing and `turn`, the turn that makes it (if still running)."""
        self.stats["interrupted"] += 1
        if turn is not None and not turn.done():
            turn.cancel()
            await asyncio.gather(turn, return_exceptions=True)
        await self.voice.stop()
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
        except Exception as error:  # noqa: BLE001 — a link hiccup must not end the conversation
            self.stats["errors"] += 1
            log.warning("%s: could not send %r (%s)", self.name, message, error)  # a dropped link: no traceback

    async def wait_idle(self) -> None:
        """Wait until no turn or speech is in progress (timers may still be running)."""
        while self._turn_task is not None and not self._turn_task.done():
            await asyncio.gather(self._turn_task, return_exceptions=True)
        await self.voice.wait_idle()

    async def close(self) -> None:
        """Cancel everything this session started (the earbud disconnected)."""
        stopping = self.stop_words.pending() if self.stop_words is not None else []
        tasks = [t for t in [self._turn_task, *self._background, *self.listening_part.pending_tasks(), *stopping]
                 if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.voice.stop()
        await self.timers.close()


def _loop_running() -> bool:
    try:
        return asyncio.get_running_loop() is not None
    except RuntimeError:
        return False
