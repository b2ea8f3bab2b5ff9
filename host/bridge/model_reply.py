"""A conversation model's reply, generated in a worker thread and handed to the event loop sentence by sentence.

The first sentence is spoken while the model still writes the rest. `cancel()` stops the generation after the
token in progress (a speculation thrown away, the user pressing stop, quiet); the model is then free for the next
turn. An engine answers one earbud at a time (its own lock): the others wait in their threads, never the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from host.companion.conversation.base import ConversationEngine, ConversationError
from host.companion.conversation.sentences import sentences

log = logging.getLogger(__name__)

_END = object()
FIRST_CLAUSE_WORDS = 4  # the first words go to the voice at the first comma after this many: sound sooner


class ModelReply:
    def __init__(self, engine: ConversationEngine, messages: list[dict]):
        self._engine = engine
        self._messages = messages
        self.sent = messages[-1]["content"]  # the user message as the model read it (kept in the history)
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._cancelled = threading.Event()
        self.spoken: list[str] = []  # the sentences handed out so far
        self._thread = threading.Thread(target=self._generate, name=f"reply-{engine.name}", daemon=True)
        self._thread.start()

    def _generate(self) -> None:
        try:
            stream = sentences(self._deltas(), first_clause_words=FIRST_CLAUSE_WORDS)
            try:
                for sentence in stream:
                    self._put(sentence)
                    if self._cancelled.is_set():
                        break
            finally:
                stream.close()
        except ConversationError as error:
            self._put(error)
        except Exception as error:  # noqa: BLE001 — the model's trouble is this turn's, reported in one line
            log.exception("conversation model failed")
            self._put(ConversationError(f"the conversation model failed ({type(error).__name__})"))
        finally:
            self._put(_END)

    def _deltas(self):
        deltas = self._engine.stream(self._messages)
        try:
            for delta in deltas:
                if self._cancelled.is_set():
                    return
                yield delta
        finally:
            deltas.close()

    def _put(self, item: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self._cancelled.set()

    async def next_sentence(self) -> str | None:
        """The next sentence, or None when the reply is complete. Raises ConversationError."""
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # later calls see the end too
            return None
        if isinstance(item, ConversationError):
            raise item
        self.spoken.append(item)
        return item

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def text(self) -> str:
        return " ".join(self.spoken)
