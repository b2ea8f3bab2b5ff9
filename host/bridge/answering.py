"""Answering one utterance: recognize it, let the skills (or the conversation model) answer, and synthesize the
first sentence — with no side effects, so it can run speculatively during the hangover and be thrown away. Then,
once the turn is committed: keep what the reply asks to be kept, and the exchange in the history."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from host.assistant import Assistant, Context
from host.assistant.reply import Reply
from host.bridge.listening import Prepared
from host.bridge.model_reply import ModelReply
from host.companion import Companion
from host.companion.conversation.base import ConversationError
from host.errors import EarpieceError
from host.pipeline.asr.fallback import notice_said, pending_notice, with_notice
from host.pipeline.engines import Engines
from host.pipeline.remote import RemoteEngineError
from host.pipeline.tts import split_sentences

log = logging.getLogger(__name__)

MODEL_TROUBLE = "Sorry, I can't think straight just now. Try again in a moment."


class Answering:
    def __init__(self, engines: Engines, companion: Companion | None, stats: dict, name: str = "earbud",
                 clock: Callable[[], float] = time.perf_counter):
        self.engines = engines
        self.companion = companion
        self.assistant = companion.assistant if companion is not None else Assistant()
        self.stats = stats
        self.name = name
        self._clock = clock
        self.wearer = None  # host.bridge.wearer_gate.WearerGate: only the wearer's voice is recognized

    async def prepare(self, audio: bytes, stream, earlier: list[asyncio.Task], status: dict,
                      speculative: bool = False) -> Prepared:
        """Recognize, answer and synthesize the first sentence. Pure: no side effects (a conversation model may
        already be writing the rest of its reply: `Prepared.model`). `status`: last_reply, battery, charging.
        `speculative`: what needs the conversation model is left for `with_model` (`Prepared.ask_model`)."""
        if self.wearer is not None and not await self.wearer.admits(audio):
            return Prepared("", Reply(""), b"", 0.0, 0.0, 0.0, not_wearer=True)
        started = self._clock()
        notice = ""
        try:
            if stream is not None:
                text = await asyncio.to_thread(stream.finish)
            else:
                self.stats["asr_runs"] += 1
                text = await asyncio.to_thread(self.engines.asr.transcribe, audio)
            if earlier:  # speech that ran past max_utterance_s: every stretch, in order
                text = " ".join([*(await asyncio.gather(*earlier)), text]).strip()
        except RemoteEngineError as error:  # the speech server failed, no local engine stands in: say so
            log.warning("%s: %s", self.name, error)
            text, notice = "", error.spoken
        recognized = self._clock()
        reply = await asyncio.to_thread(self._respond, text, status)
        model = None
        if reply.skill == "fallback" and text.strip() and self.companion and self.companion.conversation:
            if speculative:
                return Prepared(text, reply, b"", recognized - started, 0.0, 0.0, ask_model=True)
            reply, model = await self._ask_model(text)
        reply = with_notice(reply, notice or pending_notice(self.engines.asr), text)
        answered = self._clock()
        try:
            sentences = split_sentences(reply.text) or [reply.text]
            first_audio = await self.engines.tts.synthesize_async(sentences[0])
        except BaseException:
            if model is not None:
                model.cancel()
            raise
        return Prepared(text, reply, first_audio, recognized - started, answered - recognized,
                        self._clock() - answered, model)

    async def with_model(self, prepared: Prepared) -> Prepared:
        """A speculatively prepared turn the conversation model answers, now that it is committed."""
        started = self._clock()
        reply, model = await self._ask_model(prepared.transcript)
        answered = self._clock()
        try:
            first_audio = await self.engines.tts.synthesize_async((split_sentences(reply.text) or [reply.text])[0])
        except BaseException:
            if model is not None:
                model.cancel()
            raise
        return Prepared(prepared.transcript, reply, first_audio, prepared.asr_s, answered - started,
                        self._clock() - answered, model)

    def _respond(self, text: str, status: dict) -> Reply:
        if self.companion is not None:
            return self.companion.respond(text, self.name, **status)
        return self.assistant.respond(text, Context(**status))

    async def _ask_model(self, text: str) -> tuple[Reply, ModelReply | None]:
        """What no skill answers goes to the conversation model: its first sentence, and the model writing on."""
        messages = await asyncio.to_thread(self.companion.messages, text, self.name)
        model = ModelReply(self.companion.conversation, messages)
        try:
            first = await model.next_sentence()
        except ConversationError as error:
            log.warning("%s: conversation model: %s", self.name, error)
            return Reply(MODEL_TROUBLE, skill="fallback", remember=False), None
        except BaseException:
            model.cancel()
            raise
        if first is None:
            return Reply(MODEL_TROUBLE, skill="fallback", remember=False), None
        return Reply(first, skill="conversation"), model

    async def keep(self, reply: Reply) -> list:
        """Store what the reply's memory and reminder actions ask for (before saying it was done); the rest (quiet,
        timers) is returned to be carried out once the reply is spoken. Raises EarpieceError (the memory file)."""
        notice_said(self.engines.asr, reply)  # committed: a remote recognizer's failure notice is now said
        if self.companion is None or not reply.actions:
            return list(reply.actions)
        return await asyncio.to_thread(self.companion.carry_out, reply, self.name)

    def record(self, transcript: str, reply: Reply, model: ModelReply | None) -> None:
        """The exchange, into the conversation history (blocking: call it off the event loop). A history that cannot
        be written (a full disk, a locked file) costs this exchange's place in it, one log line, and nothing else."""
        if self.companion is not None and transcript.strip():
            try:
                self.companion.record_turn(self.name, transcript, reply, model.sent if model is not None else None)
            except EarpieceError as error:
                log.warning("%s: the conversation history was not saved: %s", self.name, error)
