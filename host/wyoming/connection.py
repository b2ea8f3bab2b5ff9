"""One client connection to a satellite port (Home Assistant, usually): events in, events out, both bounded.

Reading never waits on writing: events to the client go into a bounded outbox that a writer task empties, each
write with a deadline. A client that stops reading fills the outbox (or misses the deadline) and is disconnected
with one log line; the earbud's audio never waits for it, so no other earbud (and not this one) stalls. A client
that sends nothing for `IDLE_TIMEOUT_S` is disconnected too; one that has pinged us (Home Assistant pings about 2 s
after each pong) already after `PINGING_TIMEOUT_S` of silence — a Home Assistant gone without a goodbye (its machine
off the network) must not keep the earbud's requests from the companion for long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from wyoming.event import Event, async_write_event
from wyoming.server import AsyncEventHandler

from host.wyoming.wire import BadEvent, read_event

log = logging.getLogger(__name__)

OUTBOX_EVENTS = 512  # about 16 s of the earbud's audio in 32 ms chunks
WRITE_TIMEOUT_S = 5.0
IDLE_TIMEOUT_S = 120.0
PINGING_TIMEOUT_S = 10.0

OnEvent = Callable[["SatelliteConnection", Event], Awaitable[None]]


class SatelliteConnection(AsyncEventHandler):
    """A client of one satellite: `send` queues an event for it (never blocks); `on_event` gets what it sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str, on_event: OnEvent,
                 on_close: Callable[[SatelliteConnection], None]):
        super().__init__(reader, writer)
        self.name = name
        self._on_event = on_event
        self._on_close = on_close
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._outbox: asyncio.Queue[Event] = asyncio.Queue(OUTBOX_EVENTS)
        self._writing: asyncio.Task | None = None
        self.closed = False
        self.pinging = False  # it has pinged us: its silence means it is gone

    def send(self, event: Event) -> None:
        """Queue `event` for the client; a client too slow to take it is disconnected."""
        if self.closed:
            return
        try:
            self._outbox.put_nowait(event)
        except asyncio.QueueFull:
            self.fail(f"it has not read its last {OUTBOX_EVENTS} events")

    async def handle_event(self, event: Event) -> bool:
        if event.type in ("ping", "pause-satellite"):  # paused (Home Assistant's mute), it stops pinging
            self.pinging = event.type == "ping"
        await self._on_event(self, event)
        return not self.closed

    async def run(self) -> None:
        """Read events until the client leaves or misbehaves (the library's loop, with bounds and a deadline)."""
        self._is_running = True
        self._writing = asyncio.get_running_loop().create_task(self._write_loop(), name=f"wyoming out {self.peer}")
        try:
            while self._is_running and not self.closed:
                timeout = PINGING_TIMEOUT_S if self.pinging else IDLE_TIMEOUT_S
                try:
                    event = await asyncio.wait_for(read_event(self.reader), timeout)
                except BadEvent as error:
                    self.fail(str(error))
                    break
                except asyncio.TimeoutError:
                    self.fail(f"it sent nothing for {timeout:.0f} s", logging.INFO)
                    break
                except (ConnectionError, OSError):
                    break
                if event is None or not await self.handle_event(event):
                    break
        except Exception:  # noqa: BLE001 — one client's trouble must never reach the bridge
            log.exception("%s: Wyoming client %s: unexpected error; disconnected", self.name, self.peer)
        finally:
            await self.disconnect()

    async def _write_loop(self) -> None:
        while not self.closed:
            event = await self._outbox.get()
            try:
                await asyncio.wait_for(async_write_event(event, self.writer), WRITE_TIMEOUT_S)
            except asyncio.TimeoutError:
                self.fail(f"it took over {WRITE_TIMEOUT_S:.0f} s to read")
                return
            except (ConnectionError, OSError):
                self.close()
                return

    def fail(self, why: str, level: int = logging.ERROR) -> None:
        """Log one line and close the connection at once."""
        if not self.closed:
            log.log(level, "%s: Wyoming client %s disconnected: %s", self.name, self.peer, why)
        self.close()

    def close(self) -> None:
        """Close the connection at once (no log line)."""
        if self.closed:
            return
        self.closed = True
        self._is_running = False
        self.writer.transport.abort()  # no goodbye: unsent data is dropped, a stuck peer cannot hold us
        self.reader.feed_eof()
        if self._writing is not None and self._writing is not asyncio.current_task():
            self._writing.cancel()
        self._on_close(self)

    async def disconnect(self) -> None:
        """The client left (or was sent away): stop writing, forget it."""
        self.close()
        # (asyncio.wait_for of Python 3.11 can swallow a cancellation that arrives as the write completes: insist.)
        while self._writing is not None and not self._writing.done():
            self._writing.cancel()
            await asyncio.wait([self._writing], timeout=0.1)

    async def stop(self) -> None:
        self.close()
