"""Overload: when the shared wake-word scoring cannot keep up, the newest earbuds stop being scored, not all.

Without this, one earbud too many makes every earbud fall seconds behind at once (the capacity bench found it at
48 earbuds on 2 cores). The batcher reports how far behind its scoring runs; past `shed_lag_s` for `hold_s` the
newest scored stream is shed (its audio is not scored: no wake word, counted per earbud); once the scoring has
caught up and the worker is idle most of the time again for `hold_s`, the most recently shed stream is scored
again. The oldest stream is never
shed, so one earbud is always served however slow the machine.
"""

from __future__ import annotations

import logging
import time
import weakref

log = logging.getLogger(__name__)


class LoadShedder:
    def __init__(self, shed_lag_s: float = 0.6, restore_busy: float = 0.6, hold_s: float = 2.0,
                 smoothing: float = 0.1) -> None:
        self.shed_lag_s = shed_lag_s
        self.restore_busy = restore_busy
        self.hold_s = hold_s
        self.smoothing = smoothing
        self._streams: list[weakref.ref] = []  # in the order they started: the last ones are shed first
        self.shed_blocks: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()  # per stream
        self._positions: dict[int, int] | None = None  # id(stream) -> its place in the start order (None: stale)
        self._live = 0
        self._shed = 0  # how many of the newest streams are shed
        self._lag = 0.0
        self._busy = 0.0
        self._wanted: str | None = None  # "shed" or "restore" while the load asks for it
        self._since = 0.0  # since when it has asked (or since the last change)
        self.stats = {"sheds": 0, "restores": 0}

    def add(self, stream: object) -> None:
        """A stream starts (any object standing for one earbud's audio; kept weakly, so it leaves on its own)."""
        live = [ref for ref in self._streams if ref() is not None]
        if not any(ref() is stream for ref in live):
            live.append(weakref.ref(stream, self._gone))
        self._streams = live
        self._positions = None

    def _gone(self, _ref: weakref.ref) -> None:
        self._positions = None

    def scored(self, stream: object) -> bool:
        """Whether `stream`'s next block is scored (False: it is shed, and counted). Called for every 80 ms block
        of every earbud: the order is worked out again only when a stream starts or ends."""
        if self._positions is None:
            live = [ref() for ref in self._streams if ref() is not None]
            self._positions = {id(other): i for i, other in enumerate(live)}
            self._live = len(live)
        position = self._positions.get(id(stream))
        if position is None or position < max(1, self._live - self._shed):
            return True
        self.shed_blocks[stream] = self.shed_blocks.get(stream, 0) + 1
        return False

    def observe(self, lag_s: float, busy: float, now: float | None = None) -> None:
        """After each batch: how long its oldest block waited (s) and the worker's busy share since the last."""
        now = time.monotonic() if now is None else now
        self._lag += self.smoothing * (lag_s - self._lag)
        self._busy += self.smoothing * (busy - self._busy)
        live = sum(ref() is not None for ref in self._streams)
        if self._lag > self.shed_lag_s and live - self._shed > 1:
            wanted = "shed"
        elif self._shed and self._busy < self.restore_busy and self._lag < self.shed_lag_s / 4:
            wanted = "restore"
        else:
            wanted = None
        if wanted != self._wanted:  # a change must be wanted for hold_s in a row, so one slow batch changes nothing
            self._wanted, self._since = wanted, now
            return
        if wanted is None or now - self._since < self.hold_s:
            return
        self._since = now  # and the next one waits hold_s more, for the load to settle
        if wanted == "shed":
            self._shed += 1
            self.stats["sheds"] += 1
            log.warning("wake-word scoring is %.1f s behind: the newest earbud's wake word is not listened for "
                        "until the load drops (%d of %d earbuds shed)", self._lag, self._shed, live)
        else:
            self._shed -= 1
            self.stats["restores"] += 1
            log.warning("wake-word scoring keeps up again: %d of %d earbuds shed", self._shed, live)
