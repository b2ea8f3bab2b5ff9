"""Reminders ring unprompted, in the ear of the earbud they were set on (or any connected one when that one is not).

A reminder that fell due while the bridge was down, or while no earbud was connected, rings as soon as one is, with
an apology for being late. Reminders ring in quiet mode too, as timers do: quiet stops listening, not the reminders
the user asked for. A blip of its own earbud's link (a reconnection takes about a second) does not send a reminder
to another ear: that waits `FALLBACK_AFTER_S`. A reminder that rang but could not be recorded as rung (a full disk)
does not ring again in this run; recording it is tried again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

from host.companion.reminders import ReminderStore, ring_text
from host.errors import EarpieceError

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
AFTER_ERROR_S = 30.0  # a reminder file that cannot be read: try again later, without a log line a second
FALLBACK_AFTER_S = 10.0  # its own earbud away this long (not a reconnection): ring in another connected one


async def ring_reminders(reminders: ReminderStore, runners: dict, check_every_s: float = CHECK_EVERY_S,
                         fallback_after_s: float = FALLBACK_AFTER_S) -> None:
    """Forever: ring each due reminder once through one of `runners` (address -> EarbudRunner)."""
    unrecorded: set[int] = set()  # rang, but the file could not say so (found by the soak: rung twice on a full disk)
    away_since: dict[int, float] = {}  # reminder id -> when it was first due with its own earbud away
    while True:
        try:
            now = datetime.now().astimezone()
            for reminder in await asyncio.to_thread(reminders.due, now):
                if reminder.id in unrecorded:
                    await asyncio.to_thread(reminders.mark_rung, reminder.id)
                    unrecorded.discard(reminder.id)
                    continue
                runner = _ear_for(reminder, runners, away_since, fallback_after_s)
                if runner is None:
                    continue  # no earbud for it, or mid-conversation: it rings when one is free
                runner.session.voice.start(ring_text(reminder, now), "reminder")
                unrecorded.add(reminder.id)
                away_since.pop(reminder.id, None)
                log.info("%s: reminder %d rung%s", runner.device.name, reminder.id,
                         f" ({reminder.late_s(now):.0f} s late)" if reminder.late_s(now) > 60 else "")
                await asyncio.to_thread(reminders.mark_rung, reminder.id)
                unrecorded.discard(reminder.id)
        except EarpieceError as error:
            log.error("reminders: %s", error)
            await asyncio.sleep(AFTER_ERROR_S)
        await asyncio.sleep(check_every_s)


def _ear_for(reminder, runners: dict, away_since: dict[int, float], fallback_after_s: float):
    """The connected earbud to ring on, once it is not in the middle of a conversation (not while the user speaks
    or a reply plays: the reminder waits a moment). Its own earbud, unless that one has been away a while."""
    connected = [runner for runner in runners.values() if runner.link.connected]
    own = next((r for r in runners.values() if r.device.name == reminder.device), None)
    if own is not None and not own.link.connected:
        first = away_since.setdefault(reminder.id, time.monotonic())
        if time.monotonic() - first < fallback_after_s:
            return None  # most likely reconnecting: its own ear, in a moment
    runner = own if own is not None and own.link.connected else connected[0] if connected else None
    if runner is None or runner.session.listening or runner.session.replying:
        return None
    return runner
