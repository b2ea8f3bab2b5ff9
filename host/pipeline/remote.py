"""Talking to Wyoming servers (Home Assistant's speech services): addresses, errors, deadlines, and one event loop.

The recognizers' interface is blocking (the session calls it from worker threads), so the Wyoming engines run their
connections on one shared event loop in a daemon thread: a worker thread waits for its result with a deadline,
and the session's own loop, which serves every earbud, never waits on the network.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar
from urllib.parse import urlparse

from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info

from host.errors import EarpieceError

T = TypeVar("T")

CONNECT_TIMEOUT_S = 2.0
# From the end of the audio (or text) to the whole answer. A tiny.en server answers a short command in ~0.3 s
# on a laptop core (~1 s on a busy one); 5 s leaves room for bigger models while keeping a hung server from holding a turn for long.
REPLY_TIMEOUT_S = 5.0
# After a server described itself, until it has answered once: servers load their model or voice on the first
# request (wyoming-piper ~4 s for a medium voice, longer on a busy machine), and that request is the bridge's
# warm-up, not a user's turn.
FIRST_REPLY_TIMEOUT_S = 30.0
# After a failure the local engine answers; the server is asked again in the background this often (never on a
# user's turn, so a server that is still down costs no one any time).
RETRY_AFTER_S = 15.0


class RemoteEngineError(EarpieceError):
    """A Wyoming server that is down, slow or answering nonsense. `spoken`: the short sentence for the ear."""

    def __init__(self, message: str, spoken: str = "Sorry, the speech server isn't answering."):
        super().__init__(message)
        self.spoken = spoken


class WyomingUriError(EarpieceError):
    """An [asr]/[tts] uri that is not a Wyoming address."""


def check_uri(uri: str, setting: str) -> str:
    """The uri if it is tcp://HOST:PORT or unix://PATH; raises WyomingUriError naming the setting to fix."""
    parsed = urlparse(uri.strip())
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme == "tcp" and parsed.hostname and port:
        return uri.strip()
    if parsed.scheme == "unix" and parsed.path:
        return uri.strip()
    raise WyomingUriError(f"{setting} = {uri!r} is not a Wyoming address: set it to tcp://HOST:PORT "
                          "(e.g. tcp://127.0.0.1:10300)")


def client(uri: str) -> AsyncClient:
    return AsyncClient.from_uri(uri, connect_timeout=CONNECT_TIMEOUT_S)


async def read_event(connection: AsyncClient, what: str, uri: str) -> Event:
    """The next event; raises RemoteEngineError when the server closes the connection or sends an error."""
    event = await connection.read_event()
    if event is None:
        raise RemoteEngineError(f"the Wyoming server at {uri} closed the connection before sending {what}")
    if Error.is_type(event.type):
        error = Error.from_event(event)
        raise RemoteEngineError(f"the Wyoming server at {uri} failed: {error.text} ({error.code or 'no code'})")
    return event


async def describe(uri: str) -> Info:
    """The server's `info` (what it offers: models, voices, streaming)."""
    async with client(uri) as connection:
        await connection.write_event(Describe().event())
        while True:
            event = await read_event(connection, "its description", uri)
            if Info.is_type(event.type):
                return Info.from_event(event)


def described_program(uri: str, timeout_s: float, kind: str, missing: str, spoken: str | None = None):
    """The first program of `kind` ("asr" or "tts") the server offers (installed ones first), asked with `describe`
    (blocking, off the event loop). Raises RemoteEngineError: the server is down, slow, or offers no such program
    (`missing` says so, `spoken` is said in the ear)."""
    info = call(describe(uri), uri, "description", timeout_s)
    programs = [program for program in getattr(info, kind) if program.installed] or getattr(info, kind)
    if not programs:
        raise RemoteEngineError(f"the Wyoming server at {uri} offers no {missing}", *([spoken] if spoken else []))
    return programs[0]


def call(coroutine: Coroutine[Any, Any, T], uri: str, what: str, timeout_s: float) -> T:
    """Run a request to the server at `uri` on the shared client loop and wait for it (blocking, from a worker
    thread) at most `timeout_s`. Raises RemoteEngineError: one line saying what failed and what to do."""
    try:
        return loop_thread().call(coroutine, timeout_s)
    except Exception as error:  # noqa: BLE001 — every failure becomes one line
        raise explain(error, uri, what, timeout_s) from None


def explain(error: BaseException, uri: str, what: str, timeout_s: float) -> RemoteEngineError:
    """One line for the log saying what went wrong with the server and what to do."""
    if isinstance(error, RemoteEngineError):
        return error
    if isinstance(error, (TimeoutError, asyncio.TimeoutError, FutureTimeout)):
        reason = f"gave no {what} within {timeout_s:g} s"
    elif isinstance(error, OSError):
        reason = f"is not reachable ({error.strerror or type(error).__name__})"
    else:
        reason = f"sent something unexpected ({type(error).__name__}: {str(error)[:80]})"
    return RemoteEngineError(f"the Wyoming server at {uri} {reason}: start it, or fix the uri in the config")


class LoopThread:
    """One event loop in a daemon thread, for coroutines that blocking callers wait on with a deadline."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="wyoming-client", daemon=True)
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Run on the loop and wait (never from the loop's own thread); cancelled when the deadline passes."""
        future = self.submit(coroutine)
        try:
            return future.result(timeout_s)
        except FutureTimeout:
            future.cancel()
            raise


_shared: dict[str, LoopThread] = {}
_shared_lock = threading.Lock()


def loop_thread() -> LoopThread:
    """The process's one Wyoming client loop (started on first use)."""
    with _shared_lock:
        if "loop" not in _shared:
            _shared["loop"] = LoopThread()
        return _shared["loop"]
