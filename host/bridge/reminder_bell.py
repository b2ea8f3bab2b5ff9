"""Reminders ring unprompted, in the ear of the earbud they were set on (or any connected one when that one is not).

A reminder that fell due while the bridge was down, or while no earbud was connected, rings as soon as one is, with
an apology for being late. Reminders ring in quiet mode too, as timers do: quiet stops listening, not the reminders
the user asked for.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from host.companion.reminders import ReminderStore, ring_text
from host.errors import EarpieceError

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
AFTER_ERROR_S = 30.0  # a reminder file that cannot be read: try again later, without a log line a second


async def ring_reminders(reminders: ReminderStore, runners: dict, check_every_s: float = CHECK_EVERY_S) -> None:
    """Forever: ring each due reminder once through one of `runners` (address -> EarbudRunner)."""
    while True:
        try:
            now = datetime.now().astimezone()
            for reminder in await asyncio.to_thread(reminders.due, now):
                runner = _ear_for(reminder.device, runners)
                if runner is None:
                    break  # no earbud connected, or mid-conversation: they ring when one is free
                runner.session.voice.start(ring_text(reminder, now), "reminder")
                await asyncio.to_thread(reminders.mark_rung, reminder.id)
                log.info("%s: reminder %d rung%s", runner.device.name, reminder.id,
                         f" ({reminder.late_s(now):.0f} s late)" if reminder.late_s(now) > 60 else "")
        except EarpieceError as error:
            log.error("reminders: %s", error)
            await asyncio.sleep(AFTER_ERROR_S)
        await asyncio.sleep(check_every_s)


def _ear_for(device: str | None, runners: dict):
    """The connected earbud to ring on, once it is not in the middle of a conversation (not while the user speaks
    or a reply plays: the reminder waits a moment)."""
    connected = [runner for runner in runners.values() if runner.link.connected]
    runner = next((r for r in connected if r.device.name == device), connected[0] if connected else None)
    if runner is None or runner.session.listening or runner.session.replying:
        return None
    return runner
