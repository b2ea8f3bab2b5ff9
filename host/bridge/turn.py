"""One turn of conversation, from the end of an utterance to its reply spoken.

Recognition is the early (speculative) one when it heard the whole utterance, else it runs now; then a spoken
"stop" ends only the reply, another voice than the enrolled wearer's is ignored, the answer is kept in memory and
spoken sentence by sentence. `DeviceSession` starts turns and does what a reply asks for (quiet, timers) after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from host.assistant.reply import Reply
from host.bridge.answering import Answering
from host.bridge.listening import Prepared, Utterance
from host.bridge.reports import TurnResult, TurnTimings
from host.bridge.speech_out import Voice
from host.errors import EarpieceError
from host.pipeline.stop_words import is_stop_command

log = logging.getLogger(__name__)

MEMORY_TROUBLE = "Sorry, I couldn't write that down: something is wrong with my memory file."
Prepare = Callable[..., Awaitable[Prepared]]


class TurnRunner:
    def __init__(self, answering: Answering, voice: Voice, prepare: Prepare, *, stats: dict, name: str,
                 store_transcripts: bool, stop_words_on: bool, spawn: Callable[[Awaitable], None]):
        self._answering = answering
        self._voice = voice
        self._prepare = prepare  # the session's: it adds the earbud's status (battery) to what the assistant knows
        self._stats = stats
        self._name = name
        self._store_transcripts = store_transcripts
        self._stop_words_on = stop_words_on  # the reply's echo is cancelled: "Hey Jarvis, stop" can be said
        self._spawn = spawn

    async def run(self, utterance: Utterance, result: TurnResult) -> tuple[Reply, list] | None:
        """Recognize, answer and speak, filling in `result`. Returns the reply as said and the actions it asks
        for, or None when the turn ends without a reply (a spoken "stop", a voice that is not the wearer's)."""
        prepared = None
        try:
            prepared = await self._recognized(utterance, result.timings)
            if self._stop_words_on and is_stop_command(prepared.transcript):  # "Hey Jarvis, stop": done
                if prepared.model is not None:
                    prepared.model.cancel()
                result.transcript, result.outcome = prepared.transcript, "stopped"
                return None
            if prepared.not_wearer:  # not the wearer's voice: nothing was recognized, nothing is said
                self._stats["not_wearer"] += 1
                judged = self._answering.wearer.judged()  # the gate that said so
                log.info("%s: not the wearer's voice (similarity %.2f): ignored before recognition", self._name,
                         judged.score if judged else 0.0)
                result.outcome = "not_wearer"
                return None
            return await self._answer(prepared, utterance, result)
        except asyncio.CancelledError:
            if prepared is not None and prepared.model is not None:
                prepared.model.cancel()
            raise

    async def _recognized(self, utterance: Utterance, timings: TurnTimings) -> Prepared:
        speculation = utterance.speculation
        prepared = None
        if speculation is not None and speculation.audio_len == len(utterance.end.audio):
            try:
                prepared = await speculation.task
                timings.speculative = True
                self._stats["speculations_used"] += 1
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise
            except Exception:  # noqa: BLE001 — try once more without speculation
                log.warning("%s: speculative recognition failed", self._name, exc_info=True)
        elif speculation is not None:
            speculation.discard()
            self._stats["speculations_discarded"] += 1
        if prepared is None:
            return await self._prepare(utterance.end.audio, utterance.stream, utterance.earlier)
        if prepared.ask_model:
            return await self._answering.with_model(prepared)
        return prepared

    async def _answer(self, prepared: Prepared, utterance: Utterance, result: TurnResult) -> tuple[Reply, list]:
        timings = result.timings
        timings.asr_s, timings.assistant_s = prepared.asr_s, prepared.assistant_s
        timings.tts_first_audio_s = prepared.tts_s
        result.transcript, result.reply = prepared.transcript, prepared.reply
        reply, first_audio = prepared.reply, prepared.first_audio
        try:
            actions = await self._answering.keep(reply)
        except EarpieceError as error:  # the memory file: say so rather than pretend it was kept
            log.error("%s: %s", self._name, error)
            reply, first_audio, actions = Reply(MEMORY_TROUBLE, skill="fallback", remember=False), None, []
        if prepared.model is not None:
            self._stats["model_turns"] += 1
        said = await self._voice.speak(reply.text, first_audio, timings, utterance.last_voice_wall,
                                       more=prepared.model)
        result.reply = reply = Reply(said, actions=reply.actions, skill=reply.skill, remember=reply.remember)
        if self._store_transcripts:
            log.info("%s heard: %r -> %r", self._name, prepared.transcript, reply.text)
        self._spawn(asyncio.to_thread(self._answering.record, prepared.transcript, reply, prepared.model))
        return reply, actions
