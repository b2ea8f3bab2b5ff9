"""`Reconnector`: keeps one connection up: connect, wait until it drops, reconnect with backoff, until `stop()`.

Policy only, no Bluetooth: the owner gives it `connect_once` (connect and set up; raise on failure) and `drop`
(tear down whatever is left), and calls `lost()` when the connection drops. A LinkRefusedError from
`connect_once` means reconnecting cannot help: it stops and keeps the error for `wait_ready` to raise.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from host.link.earbud_protocol import LinkStats
from host.link.errors import LinkDownError, LinkRefusedError, LinkTimeoutError

logger = logging.getLogger(__name__)


class Reconnector:
    def __init__(
        self,
        name: str,
        connect_once: Callable[[], Awaitable[None]],
        drop: Callable[[], Awaitable[None]],
        stats: LinkStats,
        *,
        reconnect: bool,
        backoff_initial_s: float,
        backoff_max_s: float,
        on_ready: Callable[[bool], None] | None = None,
    ) -> None:
        self.name = name
        self._connect_once = connect_once
        self._drop = drop
        self.stats = stats
        self.reconnect = reconnect
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.on_ready = on_ready
        self.error: Exception | None = None  # set when it gave up (see LinkRefusedError)
        self._ready = asyncio.Event()  # connected and set up
        self._lost = asyncio.Event()  # the current connection dropped
        self._stopped = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._lost_at: float | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self) -> None:
        if self._task is None:
            self._stopped.clear()
            self._task = asyncio.create_task(self._run(), name=f"reconnect {self.name}")

    async def stop(self) -> None:
        self._stopped.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self._drop_and_unready()

    def lost(self) -> None:
        """The connection dropped (call from the transport's disconnection callback)."""
        self.stats.disconnects += 1
        self._lost_at = time.monotonic()
        self._lost.set()

    async def wait_ready(self, timeout: float | None) -> None:
        """Raises LinkRefusedError (a ConnectionError) if it gave up for good, ConnectionError if it stopped
        (stopped, or `reconnect=False` and the attempt failed), TimeoutError on timeout."""
        waits = [asyncio.ensure_future(self._ready.wait()), asyncio.ensure_future(self._stopped.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if self._ready.is_set():
            return
        if isinstance(self.error, ConnectionError):
            raise self.error
        if self.error is not None:
            raise LinkDownError(f"cannot connect to {self.name}: {self.error}") from self.error
        if self._stopped.is_set():
            raise LinkDownError(f"link to {self.name} is closed")
        raise LinkTimeoutError(f"{self.name} did not connect within {timeout} s: is it on and in range?")

    async def _run(self) -> None:
        backoff = self.backoff_initial_s
        while not self._stopped.is_set():
            self._lost.clear()
            try:
                await self._connect_once()
            except LinkRefusedError as error:
                logger.error("%s: %s", self.name, error)
                self._give_up(error)
                await self._drop_and_unready()
                return
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # stop()
                # A library's stray cancellation (Bumble aborts requests this way on a disconnection): retry.
                failure: Exception = ConnectionError("connection attempt aborted")
            except Exception as error:  # anything else is worth another try
                failure = error
            else:
                self._became_ready()
                backoff = self.backoff_initial_s
                await self._lost.wait()
                await self._drop_and_unready()
                if not self.reconnect:
                    self._stopped.set()
                    return
                continue
            self.stats.connect_failures += 1
            await self._drop_and_unready()
            if not self.reconnect:
                self._give_up(failure)
                return
            logger.info("%s: connection failed (%s); retrying in %.1f s", self.name, failure, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)

    def _give_up(self, error: Exception) -> None:
        self.error = error
        self._stopped.set()

    def _became_ready(self) -> None:
        self.stats.connects += 1
        if self._lost_at is not None:
            self.stats.last_reconnect_s = time.monotonic() - self._lost_at
            self._lost_at = None
        self._ready.set()
        self._tell(True)

    async def _drop_and_unready(self) -> None:
        if self._ready.is_set():
            self._ready.clear()
            self._tell(False)
        await self._drop()

    def _tell(self, ready: bool) -> None:
        if self.on_ready is None:
            return
        try:
            self.on_ready(ready)
        except Exception:  # a broken observer must not break the link
            self.stats.callback_errors += 1
            logger.exception("%s: on_connection callback failed", self.name)
