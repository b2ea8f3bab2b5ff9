"""Overload: when the shared wake-word scoring cannot keep up, the newest earbuds stop being scored, not all.

Without this, one earbud too many makes every earbud fall seconds behind at once (the capacity bench found it at
48 earbuds on 2 cores). The batcher reports how far behind its scoring runs; past `shed_lag_s` for `hold_s` the
newest scored streams are shed (their audio is not scored: no wake word, counted per earbud), an eighth of them at
a time, so a bridge far past its capacity sheds enough within seconds rather than one earbud every `hold_s`.
Nothing is shed while the lag is draining (lower than a `hold_s` before): a backlog on its way out needs no more.
Once the scoring has caught up and the worker is idle most of the time again for `hold_s`, the most recently shed
stream is scored again. The oldest stream is never shed, so one earbud is always served however slow the machine.

`shed_lag_s` sits above the scoring's lag on a bridge that keeps up (about 100 ms at 48 earbuds on 2 cores, where
the capacity bench allows frames 200 ms from capture to score), so only a real overload sheds.
"""

from __future__ import annotations

import logging
import math
import time
import weakref

log = logging.getLogger(__name__)

DRAINING_S = 0.02  # the lag fell by more than this in the last `hold_s` or so: the backlog is going away


class LoadShedder:
    def __init__(self, shed_lag_s: float = 0.3, restore_busy: float = 0.6, hold_s: float = 1.0,
                 smoothing: float = 0.1, shed_share: float = 1 / 8) -> None:
        self.shed_lag_s = shed_lag_s
        self.restore_busy = restore_busy
        self.hold_s = hold_s
        self.smoothing = smoothing
        self.shed_share = shed_share  # of the live streams, shed at once (at least one)
        self._streams: list[weakref.ref] = []  # in the order they started: the last ones are shed first
        self.shed_blocks: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()  # per stream
        self._positions: dict[int, int] | None = None  # id(stream) -> its place in the start order (None: stale)
        self._live = 0
        self._shed = 0  # how many of the newest streams are shed
        self._lag = 0.0
        self._busy = 0.0
        self._wanted: str | None = None  # "shed" or "restore" while the load asks for it
        self._since = 0.0  # since when it has asked (or since the last change)
        self._lag_before = 0.0  # the lag noted a hold_s or so ago: a lag below it is draining, no cause to shed
        self._lag_noted_at = 0.0
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

    @property
    def lag_s(self) -> float:
        """How long the oldest block of a batch waited, smoothed over the last few batches."""
        return self._lag

    def observe(self, lag_s: float, busy: float, now: float | None = None) -> None:
        """After each batch: how long its oldest block waited (s) and the worker's busy share since the last."""
        now = time.monotonic() if now is None else now
        self._lag += self.smoothing * (lag_s - self._lag)
        self._busy += self.smoothing * (busy - self._busy)
        live = sum(ref() is not None for ref in self._streams)
        draining = self._lag < self._lag_before - DRAINING_S
        if now - self._lag_noted_at >= self.hold_s:
            self._lag_before, self._lag_noted_at = self._lag, now
        if self._lag > self.shed_lag_s and live - self._shed > 1 and not draining:
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
            self._shed = min(live - 1, self._shed + max(1, math.ceil(live * self.shed_share)))
            self.stats["sheds"] += 1
            log.warning("wake-word scoring is %.1f s behind: the newest earbuds' wake word is not listened for "
                        "until the load drops (%d of %d earbuds shed)", self._lag, self._shed, live)
        else:
            self._shed -= 1
            self.stats["restores"] += 1
            log.warning("wake-word scoring keeps up again: %d of %d earbuds shed", self._shed, live)
