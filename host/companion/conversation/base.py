"""The conversation engine interface: chat messages in, the reply out as text deltas while it is generated."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator

from host.errors import EarpieceError


# Sampling temperature for every engine: a small model at 0.7 strayed from the persona (it made up the weather).
TEMPERATURE = 0.3


class ConversationError(EarpieceError):
    """The conversation model cannot answer (server down or too slow, model broken); one line saying what to do."""


class ConversationEngine(ABC):
    """A chat model. `stream` blocks (run it in a worker thread) and yields the reply's text as it is generated.

    Stopping early is closing the generator (`gen.close()`, or leaving a `for` loop over it and dropping it):
    generation stops there. One reply at a time per engine; a second `stream` waits for the first to finish."""

    name: str  # "local" or "openai"
    model: str  # which model answers, for logs and the bench

    @abstractmethod
    def stream(self, messages: list[dict]) -> Iterator[str]:
        """Text deltas of the assistant's reply to `messages` ([{"role": ..., "content": ...}, ...]).

        Raises ConversationError (before the first delta when the model cannot start)."""

    def warm_up(self, system_prompt: str) -> None:
        """Read the system prompt ahead of the first turn, so that turn answers as fast as later ones. Blocking
        (seconds for a local model): call it from a worker thread at start-up. Does nothing for a server."""

    def reply(self, messages: list[dict]) -> str:
        """The whole reply at once."""
        return "".join(self.stream(messages)).strip()

    def close(self) -> None:
        """Free the model or connection; the engine is not used afterwards."""
